// Exercises the gateway's tus endpoint with tus-js-client under node, one
// case per extension, and prints what it saw as JSON:
//   node tus-node.cjs BASE_URL TOKEN VIDEO
// creation: an upload created empty, then sent by PATCH; creation-with-upload:
// the file sent with the POST itself (uploadDataDuringCreation); termination:
// an upload aborted with shouldTerminate after its first part, then HEAD; and
// expiration: the Upload-Expires headers seen, and OPTIONS's Tus-Extension.
"use strict";
const fs = require("fs");
const tus = require("tus-js-client");

const [base, token, video] = process.argv.slice(2);
const file = fs.readFileSync(video);
const headers = { Authorization: `Bearer ${token}` };

// send uploads buf with extra options; it resolves with the requests made
// (method and status), the Upload-Expires seen, and the job named.
function send(buf, name, extra) {
  return new Promise((resolve, reject) => {
    const seen = { requests: [], expires: [], job: "", url: "" };
    const up = new tus.Upload(buf, {
      endpoint: `${base}/files`,
      headers,
      metadata: { filename: name, bitrate: "128" },
      retryDelays: [],
      onAfterResponse(req, res) {
        seen.requests.push(`${req.getMethod()} ${res.getStatus()}`);
        const e = res.getHeader("Upload-Expires");
        if (e) seen.expires.push(e);
      },
      onSuccess({ lastResponse }) {
        seen.job = lastResponse.getHeader("Mp3converter-Job") || "";
        seen.url = up.url;
        resolve(seen);
      },
      onError: reject,
      ...extra(() => up, seen, resolve),
    });
    up.start();
  });
}

async function main() {
  const out = {};
  out.creation = await send(file, "creation.mp4", () => ({ uploadDataDuringCreation: false }));
  out.creationWithUpload = await send(file, "with-upload.mp4", () => ({ uploadDataDuringCreation: true }));
  out.termination = await send(Buffer.concat([file, file, file, file]), "terminated.mp4", (up, seen, resolve) => ({
    chunkSize: 64 << 10,
    onChunkComplete() {
      seen.url = up().url;
      up().abort(true).then(async () => {
        const res = await fetch(seen.url, { method: "HEAD", headers: { ...headers, "Tus-Resumable": "1.0.0" } });
        seen.headAfter = res.status;
        resolve(seen);
      }, (err) => { seen.error = String(err); resolve(seen); });
    },
  }));
  const opt = await fetch(`${base}/files`, { method: "OPTIONS" });
  out.options = { status: opt.status, extensions: opt.headers.get("Tus-Extension"), maxSize: opt.headers.get("Tus-Max-Size") };
  console.log(JSON.stringify(out));
}

main().catch((err) => { console.error(String(err)); process.exit(1); });
