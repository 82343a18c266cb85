// The web app of `videocap serve`: open a file under --root (or an upload), point at an object on a frame,
// Describe it (a streamed chat completion), or caption the whole video as a job and show its report.
// Every text from the server (file names, captions, errors) goes in as text, never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const MODEL = "describe_anything_model";
const state = {
  path: null, info: null, frame: 0, upload: null,  // the open file; `upload`: its File when it was uploaded
  points: [], labels: [], box: null, className: "",  // the prompt, on the current frame
  mask: null, maskImage: null,  // the preview: a PNG data URL of the selected object's mask
  cursor: null, dragStart: null, drag: null, playing: false, job: null, jobsTimer: null,
};

// -- talking to the server --

class ApiError extends Error {}

async function api(path, options = {}) {
  const response = await fetch(path, { credentials: "same-origin", ...options });
  if (response.status === 401) {
    await signIn();
    return api(path, options);
  }
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try {
      const body = await response.json();
      message = (body.error && body.error.message) || message;
    } catch (_) { /* not JSON: keep the status line */ }
    throw new ApiError(message);
  }
  return response;
}

const json = async (path, options) => (await api(path, options)).json();
const post = (path, body) => json(path, { method: "POST", headers: { "Content-Type": "application/json" },
  body: JSON.stringify(body) });

let signing = null;  // one sign-in for every request that met a 401 meanwhile

function signIn() {
  signing = signing || new Promise((resolve) => {
    const dialog = $("vc-key-dialog");
    $("vc-key-form").onsubmit = async (event) => {
      event.preventDefault();
      const response = await fetch("/v1/session", { method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json" }, body: JSON.stringify({ key: $("vc-key").value }) });
      if (response.ok) { dialog.close(); resolve(); } else { $("vc-key").value = ""; }
    };
    if (!dialog.open) dialog.showModal();
  }).finally(() => { signing = null; });
  return signing;
}

// Server-sent events over fetch (EventSource cannot be cancelled per request or carry errors as JSON).
async function* events(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = { name: "message", data: "" };
      for (const line of block.split("\n")) {
        if (line.startsWith("event: ")) event.name = line.slice(7);
        else if (line.startsWith("data: ")) event.data += line.slice(6);
      }
      yield event;
    }
  }
}

function showError(error) {
  const line = String(error && error.message ? error.message : error).split("\n")[0];
  $("vc-error").textContent = line;
  $("vc-error").hidden = !line;
}

function guarded(action) {
  return async (...args) => {
    showError("");
    try { await action(...args); } catch (error) { showError(error); }
  };
}

// -- files and frames --

async function loadFiles() {
  const listing = await json("/v1/files");
  const select = $("vc-file");
  select.replaceChildren(new Option(listing.data.length ? "Choose a file..." : "No video or photo under --root", ""));
  for (const file of listing.data) select.add(new Option(`${file.path} (${file.kind})`, file.path));
  if (listing.truncated) select.add(new Option("(more files: open one with ?path=)", "", false, false));
}

function frameUrl(frame) {
  return `/v1/files/frame?path=${encodeURIComponent(state.path)}&frame=${frame}`;
}

async function openFile(path, upload = null) {
  stop();
  const info = await json(`/v1/files/info?path=${encodeURIComponent(path)}`);
  Object.assign(state, { path, upload, info });
  const select = $("vc-file");
  if (![...select.options].some((o) => o.value === path)) select.add(new Option(path, path));
  select.value = path;
  const last = Math.max(state.info.frame_count - 1, 0);
  $("vc-scrub").max = String(last);
  $("vc-scrub").disabled = $("vc-play").disabled = state.info.kind !== "video";
  $("vc-run").disabled = state.info.kind !== "video";
  history.replaceState(null, "", `?path=${encodeURIComponent(path)}`);
  fitFrame();
  await showFrame(0);
}

function showFrame(frame) {
  state.frame = frame;
  clearPrompt();
  $("vc-scrub").value = String(frame);
  const info = state.info;
  $("vc-time").textContent = info.kind === "video"
    ? `frame ${frame} of ${info.frame_count} · ${(info.times[frame] || 0).toFixed(2)} s` : `${info.width}x${info.height}`;
  const img = $("vc-frame");
  return new Promise((resolve, reject) => {
    img.onload = () => { drawOverlay(); resolve(); };
    img.onerror = () => reject(new ApiError(`frame ${frame} of ${state.path} could not be shown`));
    img.src = frameUrl(frame);
  });
}

async function play() {
  if (state.playing) { stop(); return; }
  state.playing = true;
  $("vc-play").textContent = "Pause";
  const fps = state.info.fps || 25;
  const started = performance.now();
  const first = state.frame;
  while (state.playing) {
    const due = first + Math.round(((performance.now() - started) / 1000) * fps);
    const next = Math.max(due, state.frame + 1);
    if (next >= state.info.frame_count) break;
    await showFrame(next);
  }
  stop();
}

function stop() {
  state.playing = false;
  $("vc-play").textContent = "Play";
}

// -- the prompt and its preview --

function clearPrompt() {
  state.points = []; state.labels = []; state.box = null; state.mask = null; state.maskImage = null;
  drawOverlay();
}

// The frame's own size: the image's natural size (the file's size as displayed, also while the next loads).
function frameSize() {
  const img = $("vc-frame");
  return img.naturalWidth ? [img.naturalWidth, img.naturalHeight] : [state.info.width, state.info.height];
}

// A position on the shown frame in the frame's own pixels.
function toFrame(event) {
  const rect = $("vc-frame").getBoundingClientRect();
  const [width, height] = frameSize();
  const x = ((event.clientX - rect.left) / rect.width) * width;
  const y = ((event.clientY - rect.top) / rect.height) * height;
  return [Math.round(Math.min(Math.max(x, 0), width - 1)), Math.round(Math.min(Math.max(y, 0), height - 1))];
}

function addPoint(point, background) {
  state.box = null;
  state.className = "";
  state.points.push(point);
  state.labels.push(background ? 0 : 1);
  if (!state.labels.includes(1)) { drawOverlay(); return; }  // background alone selects nothing yet
  preview();
}

const preview = guarded(async () => {
  const body = { path: state.path, frame: state.frame };
  if (state.className) body.class = state.className;
  else if (state.box) body.box = state.box;
  else Object.assign(body, { points: state.points, labels: state.labels });
  state.mask = null;
  state.maskImage = null;
  drawOverlay();
  const found = await post("/v1/files/preview", body);
  state.maskImage = await tinted(found.mask);
  state.mask = found.mask;
  drawOverlay();
});

// The mask (white on black) as a canvas in the accent colour, transparent off the object.
async function tinted(url) {
  const image = new Image();
  image.src = url;
  await image.decode();
  const canvas = document.createElement("canvas");
  canvas.width = image.naturalWidth; canvas.height = image.naturalHeight;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(image, 0, 0);
  const pixels = ctx.getImageData(0, 0, canvas.width, canvas.height);
  for (let i = 0; i < pixels.data.length; i += 4) {
    const inside = pixels.data[i] > 127;
    pixels.data.set(inside ? [108, 180, 255, 120] : [0, 0, 0, 0], i);
  }
  ctx.putImageData(pixels, 0, 0);
  return canvas;
}

// The frame as large as the stage allows: the full width, and at most about two thirds of the window's height.
function fitFrame() {
  if (!state.info) return;
  const tallest = Math.min(window.innerHeight * 0.62, 720);
  $("vc-frame").style.width = `${Math.round(Math.min(tallest * state.info.width / state.info.height,
    $("vc-stage").clientWidth))}px`;
}

function drawOverlay() {
  const img = $("vc-frame");
  const canvas = $("vc-overlay");
  const width = img.clientWidth, height = img.clientHeight;
  canvas.width = width; canvas.height = height;
  canvas.style.left = `${img.offsetLeft}px`; canvas.style.top = `${img.offsetTop}px`;
  const ctx = canvas.getContext("2d");
  if (!img.naturalWidth) return;
  const sx = width / img.naturalWidth, sy = height / img.naturalHeight;
  if (state.maskImage) ctx.drawImage(state.maskImage, 0, 0, width, height);
  const box = state.drag || state.box;
  if (box) {
    ctx.strokeStyle = "#6cb4ff"; ctx.lineWidth = 2;
    ctx.strokeRect(box[0] * sx, box[1] * sy, (box[2] - box[0]) * sx, (box[3] - box[1]) * sy);
  }
  state.points.forEach(([x, y], n) => {
    ctx.beginPath();
    ctx.arc(x * sx, y * sy, 6, 0, 2 * Math.PI);
    ctx.fillStyle = state.labels[n] ? "#3ddc84" : "#ff5a4e";
    ctx.fill(); ctx.strokeStyle = "#000"; ctx.lineWidth = 1.5; ctx.stroke();
  });
  if (state.cursor) {
    const [x, y] = state.cursor;
    ctx.strokeStyle = "#fff"; ctx.lineWidth = 1.5;
    ctx.beginPath(); ctx.moveTo(x * sx - 9, y * sy); ctx.lineTo(x * sx + 9, y * sy);
    ctx.moveTo(x * sx, y * sy - 9); ctx.lineTo(x * sx, y * sy + 9); ctx.stroke();
  }
}

function onPointerDown(event) {
  if (!state.path || event.button !== 0) return;
  event.preventDefault();
  state.dragStart = { point: toFrame(event), shift: event.shiftKey };
}

function onPointerMove(event) {
  if (!state.dragStart) return;
  const [x0, y0] = state.dragStart.point;
  const [x1, y1] = toFrame(event);
  if (Math.abs(x1 - x0) + Math.abs(y1 - y0) > 6) {
    state.drag = [Math.min(x0, x1), Math.min(y0, y1), Math.max(x0, x1), Math.max(y0, y1)];
    drawOverlay();
  }
}

function onPointerUp(event) {
  if (!state.dragStart) return;
  const start = state.dragStart;
  state.dragStart = null;
  if (state.drag) {  // a box replaces any points
    state.box = state.drag;
    state.drag = null;
    state.points = []; state.labels = []; state.className = "";
    preview();
  } else {
    addPoint(toFrame(event), start.shift || event.shiftKey);
  }
}

function onKey(event) {
  if (!state.info) return;
  const [width, height] = frameSize();
  const step = Math.max(1, Math.round(width / (event.shiftKey ? 10 : 50)));
  const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
  if (moves[event.key]) {
    const [x, y] = state.cursor || [width / 2, height / 2];
    state.cursor = [Math.min(Math.max(x + moves[event.key][0], 0), width - 1),
                    Math.min(Math.max(y + moves[event.key][1], 0), height - 1)].map(Math.round);
    drawOverlay();
  } else if (event.key === "Enter" && state.cursor) {
    addPoint(state.cursor, event.shiftKey);
  } else if (event.key === "Escape") {
    state.cursor = null;
    clearPrompt();
  } else if ((event.key === "," || event.key === ".") && state.info.kind === "video") {
    const next = state.frame + (event.key === "," ? -1 : 1);
    if (next >= 0 && next < state.info.frame_count) guarded(showFrame)(next);
  } else {
    return;
  }
  event.preventDefault();
}

// -- Describe: a streamed chat completion with the frame and the previewed mask --

async function frameDataUrl() {
  const blob = await (await api(frameUrl(state.frame))).blob();
  return new Promise((resolve) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.readAsDataURL(blob);
  });
}

const describe = guarded(async () => {
  if (!state.path) throw new ApiError("open a video or photo first");
  if (!state.mask) throw new ApiError("point at an object first (click it, drag a box, or type a class)");
  const caption = $("vc-caption");
  caption.textContent = "";
  caption.dataset.state = "streaming";
  caption.classList.add("streaming");
  $("vc-describe").disabled = true;
  try {
    const response = await api("/v1/chat/completions", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ model: MODEL, stream: true, masks: [state.mask], messages: [{ role: "user", content: [
        { type: "image_url", image_url: { url: await frameDataUrl() } }, { type: "text", text: "" }] }] }) });
    for await (const event of events(response)) {
      if (event.data === "[DONE]") break;
      const data = JSON.parse(event.data);
      if (data.error) throw new ApiError(data.error.message);
      const piece = data.choices && data.choices[0].delta.content;
      if (piece) caption.textContent += piece;
    }
  } finally {
    caption.dataset.state = "done";
    caption.classList.remove("streaming");
    $("vc-describe").disabled = false;
  }
});

// -- Track and caption: a job over the whole video, its progress, then its report --

function jobPrompt() {
  const label = $("vc-label").value.trim() || "object";
  if (state.className) return { classes: [state.className] };
  if (state.box) return { prompts: [{ box: `${state.box.join(",")}@${state.frame}`, label }] };
  if (state.points.length) {
    const points = state.points.map(([x, y], n) => `${state.labels[n] ? "" : "-"}${x},${y}`).join(";");
    return { prompts: [{ point: `${points}@${state.frame}`, label }] };
  }
  throw new ApiError("point at an object first (click it, drag a box, or type a class)");
}

const runJob = guarded(async () => {
  if (!state.path) throw new ApiError("open a video first");
  const settings = jobPrompt();
  let job;
  if (state.upload) {
    const form = new FormData();
    form.append("file", state.upload);
    form.append("settings", JSON.stringify(settings));
    job = await json("/v1/jobs", { method: "POST", body: form });
  } else {
    job = await post("/v1/jobs", { path: state.path, ...settings });
  }
  await followJob(job.id);
});

async function followJob(id) {
  state.job = id;
  $("result").hidden = true;
  $("vc-progress").value = 0;
  refreshJobs();
  const response = await api(`/v1/jobs/${id}/events`);
  for await (const event of events(response)) {
    if (state.job !== id) return;
    const data = JSON.parse(event.data);
    if (event.name === "progress") {
      $("vc-progress").value = data.fraction;
      $("vc-job-state").textContent = data.stage ? `${data.stage}: ${data.done}${data.total ? ` / ${data.total}` : ""}` : "";
    } else if (event.name === "status") {
      $("vc-job-state").textContent = data.status;
    } else if (event.name === "end") {
      $("vc-job-state").textContent = data.status;
      refreshJobs();
      if (data.status === "done") { $("vc-progress").value = 1; showReport(id, data.files); }
      else if (data.error) showError(data.error);
      return;
    }
  }
}

function showReport(id, files) {
  const base = `/v1/jobs/${id}/files/`;
  $("vc-report").src = base + "report.html";
  $("vc-report-link").href = base + "report.html";
  const list = $("vc-files");
  list.replaceChildren(...files.map((name) => {
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = base + encodeURIComponent(name);
    link.download = name;
    link.textContent = name;
    item.append(link);
    return item;
  }));
  $("result").hidden = false;
}

async function refreshJobs() {
  const listing = await json("/v1/jobs");
  const rows = listing.data.map((job) => {
    const row = document.createElement("tr");
    const name = job.request.path || job.request.upload || job.id;
    const cells = [name, job.error ? `${job.status}: ${job.error}` : job.status,
                   `${Math.round((job.progress.fraction || 0) * 100)} %`];
    for (const text of cells) {
      const cell = document.createElement("td");
      cell.textContent = text;
      row.append(cell);
    }
    const actions = document.createElement("td");
    if (job.status === "queued" || job.status === "running") {
      actions.append(button("Cancel", guarded(async () => {
        await json(`/v1/jobs/${job.id}`, { method: "DELETE" }); refreshJobs();
      })));
    } else if (job.status === "done") {
      actions.append(button("Show report", () => showReport(job.id, job.files)));
    }
    row.append(actions);
    return row;
  });
  $("vc-jobs").tBodies[0].replaceChildren(...rows);
  if (listing.data.some((job) => job.status === "queued" || job.status === "running")) {
    clearTimeout(state.jobsTimer);
    state.jobsTimer = setTimeout(() => refreshJobs().catch(showError), 2000);
  }
}

function button(text, onclick) {
  const element = document.createElement("button");
  element.type = "button";
  element.textContent = text;
  element.onclick = onclick;
  return element;
}

// -- uploads --

const upload = guarded(async () => {
  const file = $("vc-upload").files[0];
  if (!file) return;
  const form = new FormData();
  form.append("file", file);
  const saved = await json("/v1/files/upload", { method: "POST", body: form });
  await openFile(saved.path, file);
});

// -- start --

function wire() {
  const img = $("vc-frame");
  img.addEventListener("pointerdown", onPointerDown);
  window.addEventListener("pointermove", onPointerMove);
  window.addEventListener("pointerup", onPointerUp);
  img.addEventListener("dragstart", (event) => event.preventDefault());
  img.addEventListener("keydown", onKey);
  window.addEventListener("resize", () => { fitFrame(); drawOverlay(); });
  $("vc-file").addEventListener("change", guarded(async (event) => { if (event.target.value) await openFile(event.target.value); }));
  $("vc-upload").addEventListener("change", upload);
  $("vc-scrub").addEventListener("input", guarded(async (event) => { stop(); await showFrame(Number(event.target.value)); }));
  $("vc-play").addEventListener("click", guarded(play));
  $("vc-describe").addEventListener("click", describe);
  $("vc-clear").addEventListener("click", () => { $("vc-class").value = ""; state.className = ""; clearPrompt(); });
  $("vc-run").addEventListener("click", runJob);
  $("vc-class").addEventListener("change", () => {
    state.className = $("vc-class").value.trim();
    state.points = []; state.labels = []; state.box = null;
    if (state.className && state.path) preview(); else clearPrompt();
  });
}

guarded(async () => {
  wire();
  const models = await json("/v1/models");
  $("vc-model").textContent = models.data.map((m) => m.id).join(", ");
  await loadFiles();
  refreshJobs().catch(showError);
  const path = new URLSearchParams(location.search).get("path");
  if (path) await openFile(path);
})();
