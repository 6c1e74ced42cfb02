function el(tag, text) { const e = document.createElement(tag); if (text !== undefined) e.textContent = text; return e; }
function token() { return document.getElementById('token').value.trim(); }
async function api(method, path, body) {
  const res = await fetch('/api/v1' + path, { method, headers: { Authorization: 'Bearer ' + token(), 'Content-Type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined });
  return { ok: res.ok, body: await res.json() };
}
async function decide(id, decision) {
  const r = await api('POST', '/me/proposals/' + id + '/decision', { decision });
  if (!r.ok) alert(r.body.error.message);
  await load();
}
async function load() {
  const out = document.getElementById('out');
  out.replaceChildren();
  const r = await api('GET', '/me/proposals');
  if (!r.ok) { out.append(el('p', r.body.error.message)); return; }
  if (r.body.items.length === 0) out.append(el('p', 'No proposals yet.'));
  for (const p of r.body.items) {
    const d = el('div'); d.className = 'card';
    const s = el('div', p.status); s.className = 'status';
    d.append(s, el('h3', p.purpose), el('p', 'To: ' + p.recipient.name + ' · Basis: ' + p.basis.kind + ' (' + p.basis.reference + ')'));
    const t = el('table');
    for (const f of p.fields) { const tr = el('tr'); tr.append(el('th', f.name), el('td', String(f.value)), el('td', f.category)); t.append(tr); }
    d.append(t);
    if (p.status === 'pending') {
      if (p.deadline) d.append(el('p', 'Decide by ' + new Date(p.deadline).toLocaleDateString()));
      const yes = el('button', 'Annehmen / Accept'); yes.onclick = () => decide(p.id, 'accept');
      const no = el('button', 'Ablehnen / Decline'); no.onclick = () => decide(p.id, 'decline');
      d.append(yes, no);
    }
    out.append(d);
  }
  const tr = await api('GET', '/me/transfers');
  const td = document.getElementById('transfers'); td.replaceChildren();
  for (const x of (tr.ok ? tr.body.items : [])) {
    td.append(el('p', new Date(x.at).toLocaleString() + ' → ' + x.recipient + ' (' + x.purpose + ', ' + x.basisKind + '): ' + x.fields.join(', ')));
  }
  const ms = await api('GET', '/me/messages');
  const md = document.getElementById('messages'); md.replaceChildren();
  for (const m of (ms.ok ? ms.body.items : [])) {
    const c = el('div'); c.className = 'card'; c.append(el('strong', m.subject), el('p', m.body)); md.append(c);
  }
}
document.getElementById('load').onclick = load;
