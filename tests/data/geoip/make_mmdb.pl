#!/usr/bin/perl
# tests/data/geoip/make_mmdb.pl CITY.mmdb [ASN.mmdb] - writes the tiny MaxMind databases the geo header tests read (Debian:
# libmaxmind-db-writer-perl). Exit 3 when the writer module is missing, so a test can skip and say why.
#   127.0.0.1/32  BR, Sao Paulo (SP), Sao Paulo city with a non-ASCII name, postal 01000, America/Sao_Paulo; ASN 64500
#   127.0.0.2/32  DE, no city, no region; ASN 64501
#   ::1/128       US, Seattle (WA), metro code 819, America/Los_Angeles; ASN 64502
#   anything else: not in the database
use strict;
use warnings;
BEGIN {
    unless (eval { require MaxMind::DB::Writer::Tree; 1 }) {
        print STDERR "MaxMind::DB::Writer::Tree is missing (Debian: libmaxmind-db-writer-perl)\n";
        exit 3;
    }
}
my ($city_path, $asn_path) = @ARGV;
die "usage: $0 CITY.mmdb [ASN.mmdb]\n" unless $city_path;
my %types = (
    city => 'map', continent => 'map', country => 'map', registered_country => 'map', location => 'map', names => 'map',
    postal => 'map', subdivisions => ['array', 'map'], iso_code => 'utf8_string', en => 'utf8_string', code => 'utf8_string',
    latitude => 'double', longitude => 'double', time_zone => 'utf8_string', metro_code => 'uint16',
    autonomous_system_number => 'uint32', autonomous_system_organization => 'utf8_string',
);
sub tree {
    my ($type) = @_;
    return MaxMind::DB::Writer::Tree->new(
        ip_version => 6, record_size => 24, database_type => $type, languages => ['en'],
        description => { en => 'edgehook test database' }, map_key_type_callback => sub { $types{ $_[0] } },
        remove_reserved_networks => 0,
    );
}
sub write_tree {
    my ($t, $path) = @_;
    open my $fh, '>:raw', $path or die "$path: $!\n";
    $t->write_tree($fh);
    close $fh or die "$path: $!\n";
}
my $city = tree('GeoIP2-City');
$city->insert_network('127.0.0.1/32', {
    country => { iso_code => 'BR', names => { en => 'Brazil' } },
    registered_country => { iso_code => 'BR', names => { en => 'Brazil' } },
    subdivisions => [ { iso_code => 'SP', names => { en => "S\x{e3}o Paulo" } } ],
    city => { names => { en => "S\x{e3}o Paulo" } },
    postal => { code => '01000' },
    location => { latitude => -23.5475, longitude => -46.63611, time_zone => 'America/Sao_Paulo' },
});
$city->insert_network('127.0.0.2/32', {
    country => { iso_code => 'DE', names => { en => 'Germany' } },
    location => { latitude => 51.2993, longitude => 9.491, time_zone => 'Europe/Berlin' },
});
$city->insert_network('::1/128', {
    country => { iso_code => 'US', names => { en => 'United States' } },
    subdivisions => [ { iso_code => 'WA', names => { en => 'Washington' } } ],
    city => { names => { en => 'Seattle' } },
    postal => { code => '98101' },
    location => { latitude => 47.6062, longitude => -122.3321, time_zone => 'America/Los_Angeles', metro_code => 819 },
});
write_tree($city, $city_path);
if ($asn_path) {
    my $asn = tree('GeoLite2-ASN');
    my %as = ('127.0.0.1/32' => 64500, '127.0.0.2/32' => 64501, '::1/128' => 64502);
    for my $net (sort keys %as) {
        $asn->insert_network($net, { autonomous_system_number => $as{$net}, autonomous_system_organization => "TEST-AS-$as{$net}" });
    }
    write_tree($asn, $asn_path);
}
