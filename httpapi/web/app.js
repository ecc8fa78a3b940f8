// The mp3converter page: sign in, upload, and watch the jobs live.
// The session is an HttpOnly cookie that this script never sees; every
// state-changing request carries "X-CSRF: 1", which the gateway requires of
// cookie-authenticated requests and which no other site's form can send.
// Text from the server goes into the page as text only (textContent).

const $ = (id) => document.getElementById(id);

const state = {
  me: null, // {username, mp3converter_admin}
  all: false,
  es: null,
  lastEventId: "",
  jobs: new Map(), // id -> job as GET /jobs/{id} shows it
  rows: new Map(), // id -> its list item
  uploadedHere: new Set(), // job ids uploaded from this page
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
  connect(false);
  loadHooks();
  $("main").focus();
}

function signedOut(message) {
  state.es?.close();
  state.es = null;
  state.me = null;
  clearJobs();
  $("app").hidden = true;
  $("who").hidden = true;
  $("loading").hidden = true;
  $("signin").hidden = false;
  $("signin-error").textContent = message;
  $("email").focus();
}

// ---- live job list ----

// connect opens the job stream. Without resume it starts afresh: the stream
// first sends every current job. With resume it asks for the changes since
// the last event seen, as EventSource itself does when it reconnects.
function connect(resume) {
  state.es?.close();
  if (!resume) {
    clearJobs();
    state.lastEventId = "";
  }
  const q = new URLSearchParams();
  if (state.all) q.set("all", "true");
  if (resume && state.lastEventId) q.set("last_event_id", state.lastEventId);
  const es = new EventSource("/jobs/events" + (q.size ? "?" + q : ""));
  state.es = es;
  let dropped = resume;
  es.addEventListener("open", () => {
    setLive("Live: updates as they happen.");
    if (dropped) reconcile();
    dropped = false;
  });
  const on = (name, apply) => es.addEventListener(name, (e) => {
    state.lastEventId = e.lastEventId || state.lastEventId;
    apply(JSON.parse(e.data));
  });
  on("job", upsertJob);
  on("deleted", (d) => removeJob(d.id));
  on("refetch", refetch);
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

// reconcile removes the jobs deleted while the stream was down that its
// replay cannot tell of: by another gateway, or by retention. It only
// removes: the stream is newer than the list for everything else.
async function reconcile() {
  const limit = 1000, known = new Set(state.jobs.keys()); // a job new since is not missing
  const res = await api("GET", `/jobs?limit=${limit}` + (state.all ? "&all=true" : "")).catch(() => null);
  if (!res || !res.ok) return;
  const jobs = await res.json();
  const listed = new Set(jobs.map((j) => j.id));
  const oldest = jobs.length === limit ? jobs[jobs.length - 1].created_at : "";
  for (const [id, job] of state.jobs) {
    if (known.has(id) && !listed.has(id) && job.created_at >= oldest) removeJob(id);
  }
}

// refetch reads the job list afresh: the stream sends "refetch" instead of
// replaying what changed while the page was away, when that was too long
// ago or too much. A state older than the one shown is not taken, and the
// jobs no longer listed go, as on any reconnection.
async function refetch() {
  const res = await api("GET", "/jobs?limit=100" + (state.all ? "&all=true" : "")).catch(() => null);
  if (!res || !res.ok) return;
  for (const job of await res.json()) {
    const shown = state.jobs.get(job.id);
    if (!shown || Date.parse(shown.updated_at) <= Date.parse(job.updated_at)) upsertJob(job);
  }
  reconcile();
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
  $("jobs").replaceChildren();
  $("empty").hidden = false;
}

function upsertJob(job) {
  const prev = state.jobs.get(job.id);
  state.jobs.set(job.id, job);
  let row = state.rows.get(job.id);
  if (!row) {
    row = jobRow(job);
    state.rows.set(job.id, row);
    insertInOrder(row, job);
  }
  renderJob(row, job);
  $("empty").hidden = true;
  const mine = job.owner === state.me?.username;
  const wasPending = prev ? prev.status !== job.status : state.uploadedHere.has(job.id);
  if (mine && wasPending && job.status === "done") announceReady(job);
  if (mine && wasPending && job.status === "failed") announce(`${job.filename} could not be converted: ${job.error || "failed"}`);
  if (mine && wasPending && (job.status === "done" || job.status === "failed")) refreshHooksSoon();
}

// insertInOrder keeps the list newest first. A row never moves once placed
// (created_at does not change), so focus on its buttons is never lost.
function insertInOrder(row, job) {
  const list = $("jobs");
  for (const other of list.children) {
    if (state.jobs.get(other.dataset.id).created_at < job.created_at) {
      list.insertBefore(row, other);
      return;
    }
  }
  list.append(row);
}

function removeJob(id) {
  state.rows.get(id)?.remove();
  state.rows.delete(id);
  state.jobs.delete(id);
  $("empty").hidden = state.jobs.size > 0;
}

function jobRow(job) {
  const row = el("li", { class: "job" });
  row.dataset.id = job.id;
  const name = el("span", { class: "name" }, job.filename);
  const badge = el("span", { class: "badge status" });
  const progress = el("progress", { max: 1, value: 0 });
  progress.setAttribute("aria-label", `Conversion of ${job.filename}`);
  const facts = el("dl", { class: "facts" });
  const error = el("p", { class: "error reason" });
  const download = el("a", { class: "button primary download", href: "#", download: "" }, "Download");
  download.setAttribute("aria-label", `Download ${mp3Name(job.filename)}`);
  const del = el("button", { type: "button", class: "delete danger" }, "Delete");
  del.setAttribute("aria-label", `Delete ${job.filename}`);
  del.addEventListener("click", () => deleteJob(job.id, del));
  row.append(el("div", { class: "row" }, name, badge, el("div", { class: "actions" }, download, del)), progress, facts, error);
  return row;
}

const statusText = { queued: "Queued", processing: "Converting", done: "Done", failed: "Failed" };

function renderJob(row, job) {
  const q = (sel) => row.querySelector(sel);
  const mine = job.owner === state.me?.username;
  row.className = `job ${job.status}`;
  const badge = q(".status");
  badge.className = `badge status ${job.status}`;
  badge.textContent = job.status === "processing"
    ? `Converting ${Math.round(job.progress * 100)}%`
    : statusText[job.status] || job.status;
  const progress = q("progress");
  progress.hidden = job.status === "done" || job.status === "failed";
  if (job.status === "processing") progress.value = Math.min(1, job.progress);
  else progress.removeAttribute("value"); // queued: indeterminate
  const facts = [["Length", duration(job.duration_seconds)], ["File", bytes(job.size)]];
  if (job.mp3_size) facts.push(["MP3", bytes(job.mp3_size)]);
  facts.push(["Added", when.format(new Date(job.created_at))]);
  if (!mine) facts.push(["Owner", job.owner]);
  q(".facts").replaceChildren(...facts.map(([k, v]) => el("div", {}, el("dt", {}, k), el("dd", {}, v))));
  q(".reason").textContent = job.error && job.status !== "done" ? job.error : "";
  const download = q(".download");
  download.hidden = !(mine && job.download_url);
  if (job.download_url) download.href = job.download_url;
  q(".delete").hidden = !mine; // an admin reads others' jobs, never touches them
}

async function deleteJob(id, button) {
  button.disabled = true;
  const res = await api("DELETE", "/jobs/" + encodeURIComponent(id)).catch(() => null);
  if (res && (res.ok || res.status === 404)) {
    removeJob(id); // the stream says so too
    $("jobs-title").focus(); // the button went with its row
    return;
  }
  button.disabled = false;
  const row = state.rows.get(id);
  if (row) row.querySelector(".reason").textContent = await failureText(res);
}

// ---- telling the user an MP3 is ready ----

function updateNotifyButton() {
  $("notify").hidden = !("Notification" in window) || Notification.permission !== "default";
}

async function askNotify() {
  await Notification.requestPermission();
  updateNotifyButton();
}

function announceReady(job) {
  const text = `${mp3Name(job.filename)} is ready.`;
  if ("Notification" in window && Notification.permission === "granted") {
    const n = new Notification("MP3 ready", { body: text, tag: job.id, icon: "/static/icon.svg" });
    n.addEventListener("click", () => { window.focus(); state.rows.get(job.id)?.querySelector(".download")?.focus(); });
    return;
  }
  announce(text);
}

function announce(text) {
  const a = $("announce");
  a.textContent = text;
  a.hidden = false;
}

// ---- uploads ----

const maxParallel = 3; // the gateway allows 4 per user: keep one for another tab
const waiting = [];
let running = 0;

function addFiles(files) {
  const options = uploadOptions();
  for (const file of files) waiting.push({ file, options, row: uploadRow(file) });
  pump();
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
  const row = el("li", { class: "upload" },
    el("div", { class: "row" }, el("span", { class: "name" }, file.name), cancel), progress, status,
    el("p", { class: "error reason", role: "alert" }));
  $("uploads").prepend(row);
  return row;
}

function finishUpload(row, error) {
  row.classList.add("finished", error ? "failed" : "ok");
  row.querySelector(".cancel").remove();
  if (error) row.querySelector(".reason").textContent = error;
  $("clear-uploads").hidden = false;
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

function upload({ file, options, row }) {
  return new Promise((resolve) => {
    const progress = row.querySelector("progress"), status = row.querySelector(".upload-status");
    const xhr = new XMLHttpRequest();
    const start = performance.now();
    let cancelled = false;
    row.querySelector(".cancel").onclick = () => { cancelled = true; xhr.abort(); };
    xhr.open("POST", "/upload");
    xhr.setRequestHeader("X-CSRF", "1");
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", (e) => {
      const total = e.lengthComputable ? e.total : file.size;
      const secs = (performance.now() - start) / 1000;
      progress.max = total || 1;
      progress.value = e.loaded;
      status.textContent = `${bytes(e.loaded)} of ${bytes(total)} · ${bytes(secs > 0 ? e.loaded / secs : 0)}/s`;
    });
    xhr.addEventListener("load", () => {
      if (xhr.status === 202) {
        const { job_id: id } = JSON.parse(xhr.responseText);
        state.uploadedHere.add(id);
        progress.value = progress.max;
        const secs = (performance.now() - start) / 1000;
        status.textContent = `Uploaded ${bytes(progress.max)} in ${secs.toFixed(1)} s · ${bytes(progress.max / Math.max(secs, 0.001))}/s`;
        finishUpload(row, "");
      } else {
        status.textContent = `Refused: ${refusal[xhr.status] || "error"} (${xhr.status})`;
        progress.hidden = true;
        finishUpload(row, errorText(xhr.status, xhr.responseText));
        if (xhr.status === 401) checkSession();
      }
      resolve();
    });
    xhr.addEventListener("error", () => {
      status.textContent = "Failed";
      finishUpload(row, "The connection broke off; the server may have refused the file (too large?) or be unreachable.");
      resolve();
    });
    xhr.addEventListener("abort", () => {
      status.textContent = cancelled ? "Cancelled" : "Aborted";
      finishUpload(row, "");
      resolve();
    });
    const form = new FormData();
    // Options come before the file: the server reads them first.
    for (const [name, value] of options) form.append(name, value);
    form.append("file", file, file.name);
    status.textContent = `Starting · ${bytes(file.size)}`;
    xhr.send(form);
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
  $("clear-uploads").addEventListener("click", () => {
    for (const r of $("uploads").querySelectorAll("li.finished")) r.remove();
    $("clear-uploads").hidden = true;
    $("file").focus();
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
  api("POST", "/validate")
    .then(async (res) => (res.ok ? signedIn(await res.json()) : signedOut("")))
    .catch(() => signedOut("The server cannot be reached."));
}

main();
