// The mp3converter page: sign in, upload, and watch the jobs live.
// The session is an HttpOnly cookie that this script never sees; every
// state-changing request carries "X-CSRF: 1", which the gateway requires of
// cookie-authenticated requests and which no other site's form can send.
// Text from the server goes into the page as text only (textContent).

const $ = (id) => document.getElementById(id);

const pageSize = 20; // jobs per page of the list
const undoSeconds = 5; // a deletion waits this long for Undo

const state = {
  me: null, // {username, mp3converter_admin}
  all: false,
  es: null,
  lastEventId: "",
  jobs: new Map(), // id -> the newest known state of a job, as GET /jobs/{id} shows it
  rows: new Map(), // id -> its list item, while shown
  uploads: [], // list items of uploads that have no job yet, newest first
  uploadedHere: new Set(), // job ids uploaded from this page
  selected: new Set(), // job ids ticked for deletion
  pending: new Map(), // job id -> the deletion waiting for Undo
  gone: new Set(), // job ids deleted: a late event of one must not bring it back
  // The page of the list shown: the URL it was read from, the ids it
  // lists in order, the next page's URL (the Link header) and the URLs of
  // the pages before it.
  view: { url: "", ids: [], next: "", back: [], loading: null, filter: { status: "", name: "" } },
};

// ---- HTTP ----

async function api(method, path, body) {
  const headers = { "X-CSRF": "1", Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  return fetch(path, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

// errorText is the server's message for a refused request.
function errorText(status, text) {
  try {
    const j = JSON.parse(text);
    if (j && typeof j.error === "string") return j.error;
  } catch { /* not JSON: a plain-text message or a proxy's page */ }
  const t = (text || "").trim();
  return t && t.length < 300 && !t.startsWith("<") ? t : `the server answered ${status}`;
}

async function responseError(res) {
  return errorText(res.status, await res.text());
}

// failureText is why a request failed: the server's message, or, with no
// response (api(...).catch(() => null)), that it could not be reached.
async function failureText(res) {
  return res ? responseError(res) : "The server cannot be reached.";
}

// ---- formatting ----

function bytes(n) {
  if (!Number.isFinite(n) || n <= 0) return "0 B";
  const units = ["B", "KB", "MB", "GB", "TB"];
  const i = Math.min(units.length - 1, Math.floor(Math.log(n) / Math.log(1000)));
  const v = n / 1000 ** i;
  return `${v.toFixed(v < 10 && i > 0 ? 1 : 0)} ${units[i]}`;
}

// took is how long something took: milliseconds below a second.
function took(secs) {
  if (secs < 1) return `${Math.max(1, Math.round(secs * 1000))} ms`;
  if (secs < 10) return `${secs.toFixed(1)} s`;
  if (secs < 60) return `${Math.round(secs)} s`;
  return duration(secs);
}

function duration(s) {
  if (!s) return "–";
  s = Math.round(s);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

const when = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

function mp3Name(filename) {
  const dot = filename.lastIndexOf(".");
  return (dot > 0 ? filename.slice(0, dot) : filename) + ".mp3";
}

function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") e.className = v;
    else if (k in e) e[k] = v;
    else e.setAttribute(k, v);
  }
  e.append(...children);
  return e;
}

// ---- sign in and out ----

function base64(s) {
  return btoa(Array.from(new TextEncoder().encode(s), (b) => String.fromCharCode(b)).join(""));
}

async function signIn(event) {
  event.preventDefault();
  const err = $("signin-error");
  err.textContent = "";
  const email = $("email").value.trim(), password = $("password").value;
  let res;
  try {
    res = await fetch("/login", {
      method: "POST", credentials: "same-origin",
      headers: { Authorization: "Basic " + base64(`${email}:${password}`), "X-Session": "cookie", Accept: "application/json" },
    });
  } catch {
    err.textContent = "The server cannot be reached.";
    return;
  }
  if (!res.ok) {
    err.textContent = await responseError(res);
    return;
  }
  $("password").value = "";
  signedIn(await res.json());
}

// signOut ends the session: the server clears the cookie and revokes the
// account's tokens, on every device. If it could not revoke them, it says so.
async function signOut() {
  await flushDeletes(); // what waits for Undo is meant to go
  const res = await api("POST", "/logout").catch(() => null);
  signedOut(res && !res.ok ? `Signed out here, but sessions elsewhere may go on: ${await responseError(res)}` : "");
}

function signedIn(me) {
  state.me = me;
  $("loading").hidden = true;
  $("signin").hidden = true;
  $("app").hidden = false;
  $("who").hidden = false;
  $("user").textContent = me.username;
  $("all-label").hidden = !me.mp3converter_admin;
  $("all").checked = state.all = false;
  updateNotifyButton();
  resetView();
  connect(false);
  loadHooks();
  $("main").focus();
}

function signedOut(message) {
  state.es?.close();
  state.es = null;
  state.me = null;
  clearJobs();
  $("notices").replaceChildren();
  $("app").hidden = true;
  $("who").hidden = true;
  $("loading").hidden = true;
  $("signin").hidden = false;
  $("signin-error").textContent = message;
  $("email").focus();
}

// ---- live job list ----
// The list shows one page of the jobs that match the filters, newest
// first, read with GET /jobs; the event stream keeps it up to date. A new
// job joins the page its place falls in, so the first page grows while it
// is shown (the next page still starts where it did). An upload is a row
// of its own until the server accepts it, and then that row is its job's.

// connect opens the job stream. Without resume it starts afresh, reading
// the first page. With resume it asks for the changes since the last event
// seen, as EventSource itself does when it reconnects.
function connect(resume) {
  state.es?.close();
  if (!resume) {
    clearJobs();
    state.lastEventId = "";
    loadPage(firstPageURL());
  }
  const q = new URLSearchParams();
  if (state.all) q.set("all", "true");
  if (resume && state.lastEventId) q.set("last_event_id", state.lastEventId);
  const es = new EventSource("/jobs/events" + (q.size ? "?" + q : ""));
  state.es = es;
  let dropped = resume;
  es.addEventListener("open", () => {
    setLive("Live: updates as they happen.");
    // What the replay cannot tell: jobs deleted by another gateway, or by
    // retention, while the stream was down.
    if (dropped) reloadPage();
    dropped = false;
  });
  const on = (name, apply) => es.addEventListener(name, (e) => {
    state.lastEventId = e.lastEventId || state.lastEventId;
    apply(JSON.parse(e.data));
    render();
  });
  on("job", (job) => {
    state.view.loading?.touched.add(job.id);
    merge(job);
    adoptUpload(job);
    place(job.id);
  });
  on("deleted", (d) => forget(d.id));
  // The stream could not replay what changed while the page was away.
  on("refetch", reloadPage);
  es.addEventListener("error", () => {
    if (es !== state.es) return;
    dropped = true;
    if (es.readyState !== EventSource.CLOSED) {
      setLive("Connection lost; reconnecting…");
      return;
    }
    // Refused (not a dropped connection): maybe the session ended.
    setLive("Connection lost; retrying…");
    setTimeout(() => checkSession().then((ok) => ok && es === state.es && connect(true)), 3000);
  });
}

async function checkSession() {
  try {
    const res = await api("POST", "/validate");
    if (res.status === 401) {
      signedOut("Your session has ended; please sign in again.");
      return false;
    }
  } catch { /* offline: try again later */ }
  return true;
}

function setLive(text) {
  $("live").textContent = text;
}

function clearJobs() {
  state.jobs.clear();
  state.rows.clear();
  state.selected.clear();
  state.view = { url: "", ids: [], next: "", back: [], loading: null, filter: { status: "", name: "" } };
  $("jobs").replaceChildren(...state.uploads);
  render();
}

// resetView clears the filters.
function resetView() {
  $("filter-q").value = "";
  $("filter-status").value = "";
}

// filters are the filters as the inputs hold them.
function filters() {
  return { status: $("filter-status").value, name: $("filter-q").value.trim() };
}

function firstPageURL() {
  const q = new URLSearchParams({ limit: pageSize }), f = filters();
  if (f.status) q.set("status", f.status);
  if (f.name) q.set("q", f.name);
  if (state.all) q.set("all", "true");
  return "/jobs?" + q;
}

// nextLink is the next page's URL from a Link header, or "".
function nextLink(link) {
  const m = /<(\/jobs\?[^>]*)>;\s*rel="next"/.exec(link || "");
  return m ? m[1] : "";
}

function reloadPage() {
  return loadPage(state.view.url || firstPageURL());
}

// loadPage shows the page of jobs at url. What the stream says meanwhile
// is kept: its jobs are placed again once the page is read, and its
// deletions are not undone by the page's older answer.
async function loadPage(url) {
  const load = { touched: new Set(), gone: new Set() }, v = state.view;
  v.loading = load;
  const res = await api("GET", url).catch(() => null);
  const jobs = res && res.ok ? await res.json().catch(() => null) : null;
  if (v.loading !== load || v !== state.view) return; // a newer load, or signed out
  v.loading = null;
  if (!jobs) {
    notice(`The jobs could not be read: ${await failureText(res && !res.ok ? res : null)}`, "bad");
    return;
  }
  const fresh = jobs.filter((j) => !load.gone.has(j.id));
  for (const job of fresh) merge(job);
  v.url = url;
  v.filter = filtersOf(url);
  v.ids = fresh.map((j) => j.id).filter((id) => matches(state.jobs.get(id)));
  v.next = nextLink(res.headers.get("Link"));
  for (const id of load.touched) place(id);
  render();
}

// filtersOf reads the filters a page's URL was read with.
function filtersOf(url) {
  const q = new URL(url, location.origin).searchParams;
  return { status: q.get("status") || "", name: (q.get("q") || "").trim() };
}

// merge takes a job's newer state, and tells the user when one of theirs
// ends.
function merge(job) {
  if (state.gone.has(job.id)) return; // deleted; ids are never reused
  const prev = state.jobs.get(job.id);
  if (prev && Date.parse(prev.updated_at) > Date.parse(job.updated_at)) return; // older than what is shown
  state.jobs.set(job.id, job);
  const row = state.rows.get(job.id);
  if (row) renderJob(row, job);
  const mine = job.owner === state.me?.username;
  const ended = job.status === "done" || job.status === "failed";
  const changed = prev ? prev.status !== job.status : state.uploadedHere.has(job.id);
  if (!mine || !changed || !ended) return;
  if (job.status === "done") announceReady(job);
  else notice(`${job.filename} could not be converted: ${job.error || "failed"}`, "bad", job.id);
  refreshHooksSoon();
}

// forget drops a deleted job.
function forget(id) {
  state.gone.add(id);
  state.view.loading?.gone.add(id);
  state.jobs.delete(id);
  state.selected.delete(id);
  state.pending.delete(id);
  const ids = state.view.ids, at = ids.indexOf(id);
  if (at >= 0) ids.splice(at, 1);
}

function matches(job) {
  const f = state.view.filter;
  return !!job && (!f.status || job.status === f.status) && (!f.name || job.filename.toLowerCase().includes(f.name.toLowerCase())) &&
    (state.all || job.owner === state.me?.username);
}

// newer says whether job a comes before job b in the list: created later,
// or at the same time with a greater id, as the server orders them.
function newer(a, b) {
  const ta = Date.parse(a.created_at), tb = Date.parse(b.created_at);
  return ta > tb || (ta === tb && a.id > b.id);
}

// place puts a job on the page shown, or takes it off, by the filters and
// by whether it falls between the page's first and last jobs.
function place(id) {
  const v = state.view, job = state.jobs.get(id), at = v.ids.indexOf(id);
  if (at >= 0) {
    if (!matches(job)) v.ids.splice(at, 1);
    return;
  }
  if (!matches(job) || v.url === "") return;
  const first = state.jobs.get(v.ids[0]), last = state.jobs.get(v.ids[v.ids.length - 1]);
  if (v.back.length && (!first || newer(job, first))) return; // on a page before this one
  if (v.next && last && newer(last, job)) return; // on a page after this one
  const i = v.ids.findIndex((other) => newer(job, state.jobs.get(other)));
  v.ids.splice(i < 0 ? v.ids.length : i, 0, id);
}

// render puts the page's rows in order, the uploads first. A row is moved
// only when out of place: a moved row loses focus.
function render() {
  const list = $("jobs"), v = state.view;
  const ids = v.ids.filter((id) => state.jobs.has(id) && !state.pending.has(id));
  const shown = new Set(ids), want = [...state.uploads];
  for (const [id, row] of state.rows) {
    if (!shown.has(id)) {
      row.remove();
      state.rows.delete(id);
    }
  }
  for (const id of ids) {
    if (!state.rows.has(id)) state.rows.set(id, jobRow(state.jobs.get(id)));
    want.push(state.rows.get(id));
  }
  let at = list.firstElementChild;
  for (const row of want) {
    if (row === at) at = at.nextElementSibling;
    else list.insertBefore(row, at);
  }
  while (at) {
    const next = at.nextElementSibling;
    at.remove();
    at = next;
  }
  for (const id of state.selected) if (!shown.has(id)) state.selected.delete(id);
  renderSelection(ids);
  const filtered = v.filter.status || v.filter.name;
  $("empty").hidden = want.length > 0 || v.url === "";
  $("empty").textContent = filtered ? "No jobs match the filters." : v.back.length ? "No more jobs." : "No jobs yet: drop a video above.";
  $("newer").hidden = !v.back.length;
  $("older").hidden = !v.next;
  $("page-info").textContent = v.back.length || v.next ? `Page ${v.back.length + 1}` : "";
}

// renderSelection shows which rows are ticked, and what the bulk actions
// would do.
function renderSelection(ids) {
  const mine = ids.filter((id) => state.jobs.get(id).owner === state.me?.username);
  for (const id of ids) {
    const row = state.rows.get(id), on = state.selected.has(id);
    row.classList.toggle("selected", on);
    row.querySelector(".select").checked = on;
  }
  const n = state.selected.size, all = $("select-all");
  all.checked = n > 0 && n === mine.length;
  all.indeterminate = n > 0 && n < mine.length;
  all.disabled = mine.length === 0;
  $("delete-selected").disabled = n === 0;
  $("delete-selected").textContent = n ? `Delete selected (${n})` : "Delete selected";
}

function jobRow(job, row = el("li")) {
  row.dataset.id = job.id;
  const select = el("input", { type: "checkbox", class: "select" });
  select.addEventListener("change", () => {
    if (select.checked) state.selected.add(job.id);
    else state.selected.delete(job.id);
    render();
  });
  const name = el("span", { class: "name" });
  const badge = el("span", { class: "badge status" });
  const progress = el("progress", { max: 1, value: 0 });
  const facts = el("dl", { class: "facts" });
  const error = el("p", { class: "error reason" });
  const download = el("a", { class: "button primary download", href: "#", download: "" }, "Download");
  const del = el("button", { type: "button", class: "delete danger" }, "Delete");
  del.addEventListener("click", () => scheduleDelete([job.id], state.jobs.get(job.id)?.filename || job.filename));
  row.replaceChildren(el("div", { class: "row" }, select, name, badge, el("div", { class: "actions" }, download, del)), progress, facts, error);
  renderJob(row, job);
  return row;
}

const statusText = { queued: "Queued", processing: "Converting", done: "Done", failed: "Failed" };

function renderJob(row, job) {
  const q = (sel) => row.querySelector(sel);
  const mine = job.owner === state.me?.username;
  row.className = `job ${job.status}`;
  q(".name").textContent = job.filename;
  q(".select").hidden = !mine; // an admin reads others' jobs, never touches them
  q(".select").setAttribute("aria-label", `Select ${job.filename}`);
  const badge = q(".status");
  badge.className = `badge status ${job.status}`;
  badge.textContent = job.status === "processing"
    ? `Converting ${Math.round(job.progress * 100)}%`
    : statusText[job.status] || job.status;
  const progress = q("progress");
  progress.setAttribute("aria-label", `Conversion of ${job.filename}`);
  progress.hidden = job.status === "done" || job.status === "failed";
  if (job.status === "processing") progress.value = Math.min(1, job.progress);
  else progress.removeAttribute("value"); // queued: indeterminate
  const facts = [["Length", duration(job.duration_seconds)], ["File", bytes(job.size)]];
  if (job.mp3_size) facts.push(["MP3", bytes(job.mp3_size)]);
  facts.push(["Added", when.format(new Date(job.created_at))]);
  if (!mine) facts.push(["Owner", job.owner]);
  if (row.dataset.upload) facts.push(["Uploaded", row.dataset.upload, "upload-status"]);
  q(".facts").replaceChildren(...facts.map(([k, v, c = ""]) => el("div", {}, el("dt", {}, k), el("dd", { class: c }, v))));
  q(".reason").textContent = job.error && job.status !== "done" ? job.error : "";
  const download = q(".download");
  download.hidden = !(mine && job.download_url);
  download.setAttribute("aria-label", `Download ${mp3Name(job.filename)}`);
  if (job.download_url) download.href = job.download_url;
  q(".delete").hidden = !mine;
  q(".delete").setAttribute("aria-label", `Delete ${job.filename}`);
}

// ---- deleting, with Undo ----
// A deletion takes the rows off at once and waits a few seconds for Undo
// before it asks the server: an Undo keeps every job, where a "Are you
// sure?" would stop every deletion to guard against the rare mistake. A
// page closed meanwhile sends the deletions as it goes.

function scheduleDelete(ids, what) {
  ids = ids.filter((id) => !state.pending.has(id));
  if (!ids.length) return;
  const undo = el("button", { type: "button", class: "undo" }, "Undo");
  undo.setAttribute("aria-label", `Undo: keep ${what}`);
  const toast = el("li", {}, el("span", { class: "text" }, `Deleting ${what} in ${undoSeconds} s.`), undo);
  const batch = { ids, toast, timer: 0 };
  batch.timer = setTimeout(() => commitDelete(batch), undoSeconds * 1000);
  undo.addEventListener("click", () => undoDelete(batch));
  toast.addEventListener("keydown", (e) => { if (e.key === "Escape") undoDelete(batch); });
  for (const id of ids) {
    state.pending.set(id, batch);
    state.selected.delete(id);
  }
  $("toasts").append(toast);
  render();
  undo.focus(); // the Delete button went with its row
}

function undoDelete(batch) {
  if (!batch.timer) return; // already sent
  clearTimeout(batch.timer);
  batch.timer = 0;
  for (const id of batch.ids) state.pending.delete(id);
  render();
  closeToast(batch.toast, state.rows.get(batch.ids[0])?.querySelector(".delete"));
}

async function commitDelete(batch) {
  batch.timer = 0;
  batch.toast.querySelector(".undo").remove();
  batch.toast.querySelector(".text").textContent = `Deleting ${batch.ids.length === 1 ? "" : batch.ids.length + " jobs "}…`;
  const failed = [];
  await eachLimited(batch.ids, 4, async (id) => {
    const res = await api("DELETE", "/jobs/" + encodeURIComponent(id)).catch(() => null);
    if (res && (res.ok || res.status === 404)) forget(id); // the stream says so too
    else failed.push([id, await failureText(res)]);
  });
  for (const [id] of failed) state.pending.delete(id);
  render();
  for (const [id, why] of failed) {
    const row = state.rows.get(id);
    if (row) row.querySelector(".reason").textContent = `Not deleted: ${why}`;
  }
  closeToast(batch.toast);
  if (state.view.next && state.rows.size < pageSize) reloadPage(); // fill the page up from the next
}

// flushDeletes sends the deletions still waiting for Undo.
function flushDeletes() {
  const batches = new Set([...state.pending.values()].filter((b) => b.timer));
  return Promise.all([...batches].map((b) => (clearTimeout(b.timer), commitDelete(b))));
}

function closeToast(toast, focus) {
  const hadFocus = toast.contains(document.activeElement);
  toast.remove();
  if (hadFocus) (focus || $("jobs-title")).focus();
}

// eachLimited runs fn on every item, at most n at once.
async function eachLimited(items, n, fn) {
  let i = 0;
  const worker = async () => { while (i < items.length) await fn(items[i++]); };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
}

function deleteSelected() {
  const ids = [...state.selected];
  if (ids.length) scheduleDelete(ids, ids.length === 1 ? state.jobs.get(ids[0]).filename : `${ids.length} jobs`);
}

function selectAll(on) {
  state.selected.clear();
  if (on) {
    for (const id of state.rows.keys()) if (state.jobs.get(id)?.owner === state.me?.username) state.selected.add(id);
  }
  render();
}

// clearFinished deletes every job of the user's that is done or failed,
// on every page, with Undo as any deletion.
async function clearFinished() {
  const button = $("clear-finished"), ids = [];
  button.disabled = true;
  try {
    for (const status of ["done", "failed"]) {
      for (let url = `/jobs?limit=1000&status=${status}`; url;) {
        const res = await api("GET", url).catch(() => null);
        if (!res || !res.ok) {
          notice(`The finished jobs could not be listed: ${await failureText(res)}`, "bad");
          return;
        }
        for (const job of await res.json()) {
          merge(job);
          ids.push(job.id);
        }
        url = nextLink(res.headers.get("Link"));
      }
    }
  } finally {
    button.disabled = false;
  }
  if (!ids.length) {
    notice("No finished jobs to clear.", "info");
    return;
  }
  scheduleDelete(ids, ids.length === 1 ? state.jobs.get(ids[0]).filename : `${ids.length} finished jobs`);
}

// ---- notices ----

// notice shows text until dismissed, one per job when job is given.
function notice(text, kind, job, ...extra) {
  if (job) for (const old of $("notices").querySelectorAll(`li[data-job="${CSS.escape(job)}"]`)) old.remove();
  const close = el("button", { type: "button", class: "close" }, "×");
  close.setAttribute("aria-label", `Dismiss: ${text}`);
  const li = el("li", { class: kind }, el("span", { class: "text" }, text), ...extra, close);
  if (job) li.dataset.job = job;
  close.addEventListener("click", () => dismiss(li));
  li.addEventListener("keydown", (e) => { if (e.key === "Escape") dismiss(li); });
  $("notices").append(li);
  return li;
}

function dismiss(li) {
  const next = li.nextElementSibling || li.previousElementSibling;
  const hadFocus = li.contains(document.activeElement);
  li.remove();
  if (hadFocus) (next?.querySelector(".close") || $("jobs-title")).focus();
}

function updateNotifyButton() {
  $("notify").hidden = !("Notification" in window) || Notification.permission !== "default";
}

async function askNotify() {
  await Notification.requestPermission();
  updateNotifyButton();
}

function announceReady(job) {
  const name = mp3Name(job.filename), text = `${name} is ready.`, extra = [];
  if (job.download_url) {
    const link = el("a", { class: "button primary", href: job.download_url, download: "" }, "Download");
    link.setAttribute("aria-label", `Download ${name}`);
    extra.push(link);
  }
  notice(text, "ready", job.id, ...extra);
  if ("Notification" in window && Notification.permission === "granted") {
    const n = new Notification("MP3 ready", { body: text, tag: job.id, icon: "/static/icon.svg" });
    n.addEventListener("click", () => { window.focus(); state.rows.get(job.id)?.querySelector(".download")?.focus(); });
  }
}

// ---- uploads ----

const maxParallel = 3; // the gateway allows 4 per user: keep one for another tab
const waiting = [];
let running = 0;

function addFiles(files) {
  if (!files.length) return;
  showNewest();
  const options = uploadOptions();
  for (const file of files) waiting.push({ file, options, row: uploadRow(file) });
  render();
  pump();
}

// showNewest shows the first page unfiltered, where new jobs go.
function showNewest() {
  const f = filters();
  if (!state.view.back.length && !f.status && !f.name && state.view.url === firstPageURL()) return;
  resetView();
  state.view.back = [];
  loadPage(firstPageURL());
}

function pump() {
  while (running < maxParallel && waiting.length) {
    running++;
    upload(waiting.shift()).finally(() => { running--; pump(); });
  }
}

function uploadRow(file) {
  const progress = el("progress", { max: file.size || 1, value: 0 });
  progress.setAttribute("aria-label", `Upload of ${file.name}`);
  const status = el("span", { class: "muted small upload-status" }, `Waiting · ${bytes(file.size)}`);
  const cancel = el("button", { type: "button", class: "cancel" }, "Cancel");
  cancel.setAttribute("aria-label", `Cancel upload of ${file.name}`);
  const row = el("li", { class: "job upload", "data-name": file.name },
    el("div", { class: "row" }, el("span", { class: "name" }, file.name), el("span", { class: "badge status queued" }, "Waiting"),
      el("div", { class: "actions" }, cancel)),
    progress, status, el("p", { class: "error reason", role: "alert" }));
  state.uploads.unshift(row);
  return row;
}

function dropUpload(row) {
  state.uploads = state.uploads.filter((r) => r !== row);
  render();
}

// refused shows why an upload was refused, until dismissed.
function refused(row, status, error) {
  row.classList.add("failed", "refused");
  row.querySelector(".upload-status").textContent = status;
  row.querySelector("progress").hidden = true;
  const badge = row.querySelector(".badge");
  badge.className = "badge status failed";
  badge.textContent = "Refused";
  row.querySelector(".reason").textContent = error;
  const name = row.querySelector(".name").textContent;
  const dismissButton = el("button", { type: "button", class: "dismiss" }, "Dismiss");
  dismissButton.setAttribute("aria-label", `Dismiss upload of ${name}`);
  dismissButton.addEventListener("click", () => {
    dropUpload(row);
    $("jobs-title").focus();
  });
  const hadFocus = row.contains(document.activeElement);
  row.querySelector(".actions").replaceChildren(dismissButton);
  if (hadFocus) dismissButton.focus();
}

// adoptUpload gives a new job the row of its upload when the stream tells
// of the job before the upload's answer does: the upload of that name
// whose bytes are all sent. Should two uploads of one name cross,
// becomeJob sets it right when their answers come.
function adoptUpload(job) {
  if (state.rows.has(job.id) || job.owner !== state.me?.username) return;
  const row = [...state.uploads].reverse().find((r) => r.dataset.sent && r.dataset.name === job.filename);
  if (!row) return;
  state.uploads = state.uploads.filter((r) => r !== row);
  row.dataset.adopted = job.id;
  jobRow(job, row);
  state.rows.set(job.id, row);
}

// becomeJob turns an accepted upload's row into its job's row, in place.
function becomeJob(row, id, file, secs) {
  state.uploadedHere.add(id);
  state.view.loading?.touched.add(id);
  state.uploads = state.uploads.filter((r) => r !== row);
  const adopted = row.dataset.adopted;
  delete row.dataset.adopted;
  if (adopted && adopted !== id && state.rows.get(adopted) === row) state.rows.delete(adopted); // drawn anew
  if (!state.jobs.has(id)) { // until the stream tells the job's own state
    const now = new Date().toISOString();
    state.jobs.set(id, { id, status: "queued", filename: file.name, size: file.size, progress: 0, duration_seconds: 0,
      mp3_size: 0, error: null, owner: state.me.username, created_at: now, updated_at: new Date(0).toISOString() });
  }
  const hadFocus = row.contains(document.activeElement);
  const other = state.rows.get(id);
  if (other && other !== row) other.remove(); // the stream came first: this row takes its place
  if (adopted !== id) jobRow(state.jobs.get(id), row);
  const speed = secs >= 1 ? ` · ${bytes(file.size / secs)}/s` : "";
  row.dataset.upload = `${bytes(file.size)} in ${took(secs)}${speed}`; // a fact of the row from now on
  state.rows.set(id, row);
  renderJob(row, state.jobs.get(id));
  place(id);
  render();
  if (hadFocus && row.isConnected) row.querySelector(".delete").focus();
}

// refusal names the usual reasons an upload is refused; the server's own
// message follows.
const refusal = { 401: "not signed in", 413: "too large", 429: "too many uploads", 507: "the server is out of space" };

// uploadOptions returns the Options fieldset's set values, as [name, value]
// pairs for the upload's form; empty ones are the server's defaults.
function uploadOptions() {
  const out = [];
  for (const [name, value] of new FormData($("options-form"))) {
    if (String(value).trim() !== "") out.push([name, String(value).trim()]);
  }
  return out;
}

// retryDelays are the waits, in ms, before each new try of a resumable
// upload whose connection broke: about two minutes in all.
const retryDelays = [0, 1000, 2000, 3000, 5000, 10000, 15000, 20000, 30000, 30000];

// retryable says whether a failed request of a resumable upload is tried
// again: a broken connection (even while the browser says it is offline:
// the upload waits for the network), a 5xx, or a passing refusal.
function retryable(err) {
  const s = err.originalResponse ? err.originalResponse.getStatus() : 0;
  return s === 0 || s >= 500 || s === 408 || s === 409 || s === 423 || (s === 429 && !!err.originalResponse.getHeader("Retry-After"));
}

// upload sends one file through the gateway's resumable uploads (tus, at
// /files): a connection that breaks off is resumed from the last byte the
// server has, and so is an upload of the same file picked again after a
// reload (its URL is kept in localStorage, by the file's fingerprint). The
// progress bar shows the server's offset.
function upload({ file, options, row }) {
  return new Promise((resolve) => {
    const progress = row.querySelector("progress"), status = row.querySelector(".upload-status");
    const badge = row.querySelector(".badge");
    const start = performance.now();
    const secs = () => (performance.now() - start) / 1000;
    let from = 0; // where this page's sending started: a resumed upload's offset
    const metadata = { filename: file.name };
    for (const [name, value] of options) metadata[name] = value;
    const up = new window.tus.Upload(file, {
      endpoint: "/files",
      metadata,
      headers: { "X-CSRF": "1", Accept: "application/json" },
      // In parts: a part in flight when the network goes may still land, and
      // a broken one is resumed from the server's offset at the next.
      chunkSize: 4 << 20,
      retryDelays,
      onShouldRetry: retryable,
      removeFingerprintOnSuccess: true,
      onUploadUrlAvailable() { status.textContent = `Starting · ${bytes(file.size)}`; },
      onProgress(sent, total) {
        const t = secs();
        progress.max = total || 1;
        progress.value = sent;
        if (sent === file.size) row.dataset.sent = "1"; // the answer may come after the stream tells of the job
        badge.className = "badge status processing";
        badge.textContent = `Uploading ${Math.floor((100 * sent) / (file.size || 1))}%`;
        status.textContent = `${bytes(sent)} of ${bytes(file.size)}` + (t >= 0.2 && sent > from ? ` · ${bytes((sent - from) / t)}/s` : "") +
          (from > 0 ? ` · resumed at ${bytes(from)}` : "");
      },
      onSuccess({ lastResponse }) {
        const id = lastResponse.getHeader("Mp3converter-Job");
        if (id) becomeJob(row, id, file, secs());
        else refused(row, "Failed", "The upload ended but the server named no job.");
        resolve();
      },
      onError(err) {
        const res = err.originalResponse, code = res ? res.getStatus() : 0;
        if (!res) refused(row, "Failed", "The connection broke off and did not come back; pick the file again to resume.");
        else refused(row, `Refused: ${refusal[code] || "error"} (${code})`, errorText(code, res.getBody()));
        if (code === 401) checkSession();
        resolve();
      },
    });
    row.querySelector(".cancel").onclick = () => {
      up.abort(true).catch(() => {}); // terminated: the server drops its parts
      dropUpload(row);
      resolve();
    };
    status.textContent = `Starting · ${bytes(file.size)}`;
    up.findPreviousUploads().then((previous) => {
      if (previous.length) {
        up.resumeFromPreviousUpload(previous[0]);
        from = -1; // set from the server's offset at the first progress
      }
      const onProgress = up.options.onProgress;
      up.options.onProgress = (sent, total) => {
        if (from < 0) from = sent;
        onProgress(sent, total);
      };
      up.start();
    });
  });
}

function setUpDrop() {
  const drop = $("drop");
  const hasFiles = (e) => e.dataTransfer && Array.from(e.dataTransfer.types).includes("Files");
  // Anywhere on the page: a missed drop must not navigate away to the file.
  window.addEventListener("dragover", (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    drop.classList.add("over");
  });
  window.addEventListener("dragleave", (e) => { if (!e.relatedTarget) drop.classList.remove("over"); });
  window.addEventListener("drop", (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    drop.classList.remove("over");
    if (state.me) addFiles(e.dataTransfer.files);
  });
  $("file").addEventListener("change", (e) => {
    addFiles(e.target.files);
    e.target.value = ""; // the same file may be picked again
  });
}

// setUpList wires the filters, the pages and the bulk actions.
function setUpList() {
  let typing = 0;
  const apply = () => {
    clearTimeout(typing);
    state.view.back = [];
    loadPage(firstPageURL());
  };
  $("filter-q").addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(apply, 300); });
  $("filter-status").addEventListener("change", apply);
  $("filters").addEventListener("submit", (e) => { e.preventDefault(); apply(); });
  $("older").addEventListener("click", async () => {
    const v = state.view;
    if (!v.next) return;
    v.back.push(v.url);
    await loadPage(v.next);
    $("jobs-title").focus();
  });
  $("newer").addEventListener("click", async () => {
    const url = state.view.back.pop();
    if (url === undefined) return;
    await loadPage(url);
    $("jobs-title").focus();
  });
  $("select-all").addEventListener("change", (e) => selectAll(e.target.checked));
  $("delete-selected").addEventListener("click", deleteSelected);
  $("clear-finished").addEventListener("click", clearFinished);
  window.addEventListener("pagehide", () => {
    for (const b of new Set(state.pending.values())) {
      if (!b.timer) continue;
      clearTimeout(b.timer);
      for (const id of b.ids) {
        fetch("/jobs/" + encodeURIComponent(id), { method: "DELETE", headers: { "X-CSRF": "1" }, credentials: "same-origin", keepalive: true });
      }
    }
  });
}

// ---- webhooks ----

async function loadHooks() {
  const res = await api("GET", "/webhooks").catch(() => null);
  const section = $("hooks");
  if (!res || !res.ok) { // a gateway without webhooks
    section.hidden = true;
    return;
  }
  section.hidden = false;
  const hooks = await res.json();
  $("hooks-list").replaceChildren(...hooks.map(hookRow));
  if (!hooks.length) $("hooks-list").append(el("li", { class: "muted" }, "No webhooks."));
}

// refreshHooksSoon reloads the webhooks' last outcomes a little after a
// job ends, once its deliveries had time to go.
let hooksTimer = 0;
function refreshHooksSoon() {
  if ($("hooks").hidden) return;
  clearTimeout(hooksTimer);
  hooksTimer = setTimeout(loadHooks, 2000);
}

function hookRow(h) {
  const d = h.last_delivery;
  const outcome = d
    ? `Last: ${d.event} ${d.status}${d.http_status ? ` (HTTP ${d.http_status})` : ""}${d.error ? ` – ${d.error}` : ""}, ${when.format(new Date(d.at))}`
    : "No deliveries yet";
  const del = el("button", { type: "button", class: "danger" }, "Delete");
  del.setAttribute("aria-label", `Delete webhook ${h.url}`);
  del.addEventListener("click", async () => {
    del.disabled = true;
    const res = await api("DELETE", "/webhooks/" + encodeURIComponent(h.id)).catch(() => null);
    if (!res || !res.ok) {
      del.disabled = false;
      $("hook-error").textContent = await failureText(res);
      return;
    }
    loadHooks();
  });
  return el("li", {}, el("div", { class: "row" }, el("code", { class: "name" }, h.url), del),
    el("span", { class: "muted small" }, outcome));
}

async function addHook(event) {
  event.preventDefault();
  const err = $("hook-error");
  err.textContent = "";
  const url = $("hook-url").value.trim();
  const res = await api("POST", "/webhooks", { url }).catch(() => null);
  if (!res || res.status !== 201) {
    err.textContent = await failureText(res);
    return;
  }
  const h = await res.json();
  $("hook-url").value = "";
  $("hook-secret-url").textContent = h.url;
  $("hook-secret-value").textContent = h.secret;
  $("hook-secret").hidden = false;
  $("hook-secret-done").focus();
  loadHooks();
}

// ---- start ----

function main() {
  $("signin-form").addEventListener("submit", signIn);
  $("options-form").addEventListener("submit", (e) => e.preventDefault());
  $("signout").addEventListener("click", signOut);
  $("notify").addEventListener("click", askNotify);
  $("all").addEventListener("change", (e) => {
    state.all = e.target.checked;
    $("jobs-title").textContent = state.all ? "All users’ jobs" : "Your jobs";
    connect(false);
  });
  $("hook-form").addEventListener("submit", addHook);
  $("hook-secret-done").addEventListener("click", () => {
    $("hook-secret").hidden = true;
    $("hook-secret-value").textContent = "";
    $("hook-url").focus();
  });
  setUpDrop();
  setUpList();
  api("POST", "/validate")
    .then(async (res) => (res.ok ? signedIn(await res.json()) : signedOut("")))
    .catch(() => signedOut("The server cannot be reached."));
}

main();
