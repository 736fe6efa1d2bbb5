// examples/gallery/site/gallery.js - lists the photos (GET /api/photos), shows their thumbnails through the edge cache, opens
// the full size, and uploads new ones straight to the store with a presigned POST (GET /api/upload-form, then a form POST to
// the store: the bucket's CORS rules let this page's origin do it), then polls the list until the new thumbnail exists.
'use strict';

const grid = document.getElementById('grid');
const statusLine = document.getElementById('status');
const POLL_MS = 1000;
const POLL_FOR_MS = 120000;

function setStatus(text, isError) {
  statusLine.textContent = text;
  statusLine.classList.toggle('error', !!isError);
}

async function getJSON(url) {
  const r = await fetch(url, { cache: 'no-store' });
  const doc = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(url + ': ' + r.status + ' ' + (doc.error || r.statusText));
  return doc;
}

function figureFor(p) {
  let fig = grid.querySelector('figure[data-key="' + CSS.escape(p.key) + '"]');
  if (!fig) {
    fig = document.createElement('figure');
    fig.dataset.key = p.key;
    const a = document.createElement('a');
    a.href = p.url;
    a.addEventListener('click', (ev) => { ev.preventDefault(); openFull(p); });
    const cap = document.createElement('figcaption');
    cap.textContent = p.key.replace(/^photos\/(\d+-[0-9a-f]{8}-)?/, ''); // the name it was uploaded with
    cap.title = p.key;
    fig.append(a, cap);
  }
  const a = fig.querySelector('a');
  if (p.ready && !a.querySelector('img')) {
    const img = document.createElement('img');
    img.className = 'thumb';
    img.alt = p.key;
    img.loading = 'lazy';
    img.addEventListener('error', () => {
      const s = document.createElement('span');
      s.className = 'pending';
      s.textContent = 'no preview';
      img.replaceWith(s);
    });
    img.src = p.thumb; // through the edge: /thumbs/... is a cached behavior
    a.replaceChildren(img);
  } else if (!p.ready) {
    // the hook retries a failed photo twice (backoff 5 s, then 10 s), then gives up: its event goes to the on-failure bucket
    const late = Date.now() / 1000 - p.last_modified > 120;
    const text = late ? 'no thumbnail (not an image the hook reads?)' : 'making the thumbnail…';
    if (!a.firstChild || a.firstChild.textContent !== text) {
      const s = document.createElement('span');
      s.className = 'pending';
      s.textContent = text;
      a.replaceChildren(s);
    }
  }
  return fig;
}

function render(photos) {
  document.getElementById('empty').hidden = photos.length !== 0;
  const figs = photos.map(figureFor);
  grid.replaceChildren(...figs);
}

async function refresh() {
  const doc = await getJSON('/api/photos');
  render(doc.photos || []);
  return doc.photos || [];
}

function openFull(p) {
  const d = document.getElementById('viewer');
  document.getElementById('full').src = p.url;
  document.getElementById('full').alt = p.key;
  document.getElementById('caption').textContent = p.key + (p.size ? ' · ' + Math.round(p.size / 1024) + ' KB' : '');
  d.showModal();
}

async function uploadOne(file) {
  const q = new URLSearchParams({ name: file.name, type: file.type });
  const form = await getJSON('/api/upload-form?' + q.toString());
  if (file.size > form.max_size) throw new Error(file.name + ' is larger than ' + form.max_size + ' bytes');
  const body = new FormData();
  for (const [k, v] of Object.entries(form.fields)) body.append(k, v);
  body.append('file', file); // the file goes last, as S3 wants
  const r = await fetch(form.url, { method: 'POST', body, mode: 'cors' });
  if (r.status !== 201 && r.status !== 204 && r.status !== 200) {
    const text = await r.text();
    const code = (text.match(/<Code>([^<]*)<\/Code>/) || [])[1] || r.status;
    throw new Error(file.name + ': the store refused the upload (' + code + ')');
  }
  return form.key;
}

async function waitForThumb(key) {
  const deadline = Date.now() + POLL_FOR_MS;
  while (Date.now() < deadline) {
    const photos = await refresh();
    if (photos.some((p) => p.key === key && p.ready)) return true;
    await new Promise((ok) => setTimeout(ok, POLL_MS));
  }
  return false;
}

async function uploadAll(files) {
  for (const file of files) {
    try {
      setStatus('uploading ' + file.name + '…');
      const key = await uploadOne(file);
      statusLine.dataset.lastKey = key;
      setStatus('uploaded ' + file.name + ', making its thumbnail…');
      await refresh();
      if (await waitForThumb(key)) {
        statusLine.dataset.readyKey = key;
        setStatus(file.name + ' is in the gallery');
      } else {
        setStatus(file.name + ': no thumbnail after ' + POLL_FOR_MS / 1000 + ' s (is the resize hook running?)', true);
      }
    } catch (e) {
      setStatus(String(e.message || e), true);
    }
  }
}

document.getElementById('file').addEventListener('change', (ev) => {
  const files = Array.from(ev.target.files);
  ev.target.value = '';
  uploadAll(files);
});

refresh().catch((e) => setStatus(String(e.message || e), true));
