# A thin wrapper for those who have make; the scripts are the real commands (a fresh Debian has no make).
.PHONY: run test build bench clean
run:
	scripts/run.sh
test:
	scripts/test.sh
build:
	cmake -S . -B build && cmake --build build -j$$(nproc)
bench:
	bench/run.sh
clean:
	rm -rf build build-asan
