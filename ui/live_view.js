// The Live tab's preview: the page shows the camera itself, POSTs the server a small mirrored JPEG of
// the newest frame (at most MAX_IN_FLIGHT unanswered) and its microphone as raw 16 kHz PCM chunks, both
// outside Gradio, and draws each reading that comes back over the video. `CONFIG` is filled in by app.py.
// Gradio runs this with `element` (the component), `trigger` (raise an event on it), `props` (its value)
// and `watch`.
const CONFIG = LIVE_CONFIG;
const video = element.querySelector("video");
const overlay = element.querySelector("canvas");
const idle = element.querySelector(".live-idle");
const idleText = idle.textContent;
const chips = Object.fromEntries([...element.querySelectorAll("[data-channel]")].map(
  (chip) => [chip.dataset.channel, chip.querySelector(".value")]));
const grab = document.createElement("canvas");
// Names this page's session to the server: its frames and chunks are plain requests, outside Gradio's session.
const token = [...crypto.getRandomValues(new Uint8Array(CONFIG.token_chars / 2))]
  .map((byte) => byte.toString(16).padStart(2, "0")).join("");
const base = (window.gradio_config?.root || location.origin + location.pathname).replace(/\/?$/, "/");
const routeUrl = (route, params) => `${new URL(route, base)}?${new URLSearchParams({token, ...params})}`;
const live = {stream: null, microphone: null, running: false, number: 0, pending: new Map(), painted: 0,
              sentAt: -1e9, barsAt: -1e9, timelineAt: -1e9, timer: 0, chunks: [], chunkInFlight: null,
              network: Infinity, server: 0};  // ms per frame: on the way (both ways) and on the server (EMAs)
window.liveUpdates = 0;  // readings painted so far (the live benchmark reads it)
window.liveLatencies = [];  // ms from a frame's capture to its reading painted, the last LATENCIES_KEPT

// Draw the video as shown (mirrored), at most `width` pixels wide, on the grab canvas.
const draw = (width) => {
  const scale = Math.min(1, width / video.videoWidth);
  grab.width = Math.round(video.videoWidth * scale);
  grab.height = Math.round(video.videoHeight * scale);
  const ctx = grab.getContext("2d");
  ctx.imageSmoothingQuality = "high";
  ctx.setTransform(-1, 0, 0, 1, grab.width, 0);
  ctx.drawImage(video, 0, 0, grab.width, grab.height);
};

// Frame `number`, captured now and encoded off the main thread (toBlob), goes up as the JPEG's own bytes.
const sendFrame = async (number) => {
  draw(CONFIG.send_width);
  const jpeg = await new Promise((resolve) => grab.toBlob(resolve, "image/jpeg", CONFIG.send_quality));
  const url = routeUrl(CONFIG.frame_route, {number, width: video.videoWidth, height: video.videoHeight});
  try {
    const sentAt = performance.now();
    const answer = await fetch(url, {method: "POST", body: jpeg, headers: {"content-type": "image/jpeg"}});
    learn(performance.now() - sentAt, answer.headers.get("server-timing"));
    apply(await answer.text());
  } catch {
    live.pending.delete(number);
  }
};

// Where a frame's time goes: the server says its share (Server-Timing), the rest is the link.
const learn = (total, timing) => {
  const server = Number(/dur=([\d.]+)/.exec(timing ?? "")?.[1]);
  if (!Number.isFinite(server)) return;
  const ewma = (old, value) => (Number.isFinite(old) ? 0.8 * old + 0.2 * value : value);
  [live.network, live.server] = [ewma(live.network, Math.max(0, total - server)), ewma(live.server, server)];
};

// A second frame in flight only pays while the link takes longer than the server: then it covers the
// round trip; when the server is the slower part, the second frame would only wait there, doubling latency.
const inFlightLimit = () => (live.network > live.server ? CONFIG.max_in_flight : 1);

// While streaming: the bars and status a few times a second and the timeline once a second (Gradio
// events, which also name this page's session by its token), and the newest frame whenever one is due
// and fewer than inFlightLimit() wait for their reading. Frames are due every FRAME_EVERY_MS on average.
const tick = () => {
  clearTimeout(live.timer);
  if (!live.running) return;
  const now = performance.now();
  if (now - live.barsAt >= CONFIG.bars_every_ms) {
    live.barsAt = now;
    trigger("bars", {token});
  }
  if (now - live.timelineAt >= CONFIG.timeline_every_ms) {
    live.timelineAt = now;
    trigger("timeline");
  }
  for (const [number, at] of live.pending) if (now - at > CONFIG.stale_ms) live.pending.delete(number);
  const wait = live.sentAt + CONFIG.frame_every_ms - now;
  if (wait > 0) {
    live.timer = setTimeout(tick, wait);
    return;
  }
  if (live.pending.size >= inFlightLimit() || !video.videoWidth) return;  // a reading or the backstop wakes it
  live.sentAt = -wait < CONFIG.frame_every_ms ? live.sentAt + CONFIG.frame_every_ms : now;
  const number = ++live.number;
  live.pending.set(number, now);
  sendFrame(number);
  live.timer = setTimeout(tick, live.sentAt + CONFIG.frame_every_ms - now);
};

const clearOverlay = () => overlay.getContext("2d").clearRect(0, 0, overlay.width, overlay.height);

// Boxes (preview pixels, already mirrored) and captions over the video; the three readings below it.
const paint = (reading) => {
  const ratio = window.devicePixelRatio || 1;
  const cw = Math.round(overlay.clientWidth * ratio), ch = Math.round(overlay.clientHeight * ratio);
  if (overlay.width !== cw || overlay.height !== ch) [overlay.width, overlay.height] = [cw, ch];
  const ctx = overlay.getContext("2d");
  ctx.clearRect(0, 0, cw, ch);
  const [vw, vh] = reading.size, s = Math.min(cw / vw, ch / vh);
  const ox = (cw - vw * s) / 2, oy = (ch - vh * s) / 2;
  const line = Math.max(2, Math.round(2 * ratio)), font = Math.max(12 * ratio, Math.round(Math.min(cw, ch) / 24));
  Object.assign(ctx, {lineWidth: line, font: `${font}px sans-serif`, textBaseline: "top"});
  for (const [x, y, w, h, text] of reading.boxes) {
    const [X, Y, W, H] = [ox + x * s, oy + y * s, w * s, h * s];
    ctx.strokeStyle = ctx.fillStyle = CONFIG.box_colour;
    ctx.strokeRect(X, Y, W, H);
    if (!text) continue;
    const th = font + 6, top = Y - th >= 0 ? Y - th : Y + H;
    ctx.fillRect(X - line / 2, top, ctx.measureText(text).width + 8, th);
    ctx.fillStyle = CONFIG.text_colour;
    ctx.fillText(text, X + 4, top + 3);
  }
  for (const [channel, chip] of Object.entries(chips)) chip.textContent = reading[channel] ?? CONFIG.missing[channel];
};

// A reading (JSON): from a frame sent, or Reset's {"clear": true} through the component's value.
const apply = (text) => {
  let reading;
  try { reading = JSON.parse(text); } catch { return; }
  if (!reading) return;
  if (reading.clear) {
    live.painted = live.number;
    clearOverlay();
    for (const chip of Object.values(chips)) chip.textContent = "–";
    return;
  }
  const sentAt = live.pending.get(reading.number);
  for (const number of [...live.pending.keys()]) if (number <= reading.number) live.pending.delete(number);
  if (!reading.dropped && live.running && reading.number > live.painted) {
    live.painted = reading.number;
    paint(reading);
    requestAnimationFrame(() => {
      window.liveUpdates += 1;
      if (sentAt !== undefined) window.liveLatencies.push(performance.now() - sentAt);
      if (window.liveLatencies.length > CONFIG.latencies_kept) window.liveLatencies.shift();
    });
  }
  tick();
};
watch("value", () => apply(props.value));
setInterval(tick, CONFIG.tick_ms);  // backstop: a frame unanswered for STALE_MS no longer counts

// The microphone at the voice model's own rate (16 kHz; the browser's own where it cannot resample a
// microphone): an AudioWorklet gathers CHUNK_SECONDS of mono as 16-bit PCM off the main thread; the page
// sends one chunk at a time, with whatever gathered while the previous one was in flight (up to
// MAX_CHUNK_SECONDS, the oldest dropped first).
const WORKLET = `registerProcessor("live-pcm", class extends AudioWorkletProcessor {
  constructor(options) { super(); this.size = options.processorOptions.size; this.fresh(); }
  fresh() { this.buffer = new Int16Array(this.size); this.filled = 0; }
  process([input]) {
    for (const sample of input[0] ?? []) {
      this.buffer[this.filled++] = Math.max(-32768, Math.min(32767, Math.round(sample * 32768)));
      if (this.filled === this.size) { this.port.postMessage(this.buffer, [this.buffer.buffer]); this.fresh(); }
    }
    return true;
  }
});`;

const sendChunks = async () => {
  const rate = live.microphone?.context.sampleRate;
  if (live.chunkInFlight || !live.chunks.length || !rate) return;
  let samples = live.chunks.reduce((total, chunk) => total + chunk.length, 0);
  while (samples > CONFIG.max_chunk_seconds * rate) samples -= live.chunks.shift().length;
  const body = new Int16Array(samples);
  live.chunks.reduce((at, chunk) => (body.set(chunk, at), at + chunk.length), 0);
  live.chunks = [];
  const url = routeUrl(CONFIG.audio_route, {rate});
  live.chunkInFlight = fetch(url, {method: "POST", body, headers: {"content-type": "application/octet-stream"}})
    .then((answer) => answer.json())
    .then((reading) => {
      if (reading.dropped || !live.running) return;
      for (const [channel, chip] of Object.entries(chips)) chip.textContent = reading[channel] ?? CONFIG.missing[channel];
    }, () => {})
    .finally(() => { live.chunkInFlight = null; if (live.running) sendChunks(); });
};

const listen = async (stream, options) => {
  const context = new AudioContext(options);
  try {
    const source = context.createMediaStreamSource(stream);  // throws where the rates must match
    const module = URL.createObjectURL(new Blob([WORKLET], {type: "text/javascript"}));
    await context.audioWorklet.addModule(module);
    URL.revokeObjectURL(module);
    const node = new AudioWorkletNode(context, "live-pcm", {numberOfInputs: 1, numberOfOutputs: 0, channelCount: 1,
      channelCountMode: "explicit", processorOptions: {size: Math.round(CONFIG.chunk_seconds * context.sampleRate)}});
    node.port.onmessage = ({data}) => { if (live.running) { live.chunks.push(data); sendChunks(); } };
    source.connect(node);
    await context.resume();
    return {stream, context};
  } catch (error) {
    context.close();
    throw error;
  }
};

const openMicrophone = async () => {
  const stream = await navigator.mediaDevices.getUserMedia({audio: {channelCount: 1}, video: false});
  try {
    return await listen(stream, {sampleRate: CONFIG.microphone_rate});
  } catch {
    return await listen(stream, {}).catch((error) => { stream.getTracks().forEach((t) => t.stop()); throw error; });
  }
};

const openCamera = async () => {
  const stream = await navigator.mediaDevices.getUserMedia({video: CONFIG.constraints, audio: false});
  video.srcObject = stream;
  await video.play();
  return stream;
};

window.liveView = {
  async start() {
    const problems = [];
    if (!live.stream) live.stream = await openCamera().catch((error) => { problems.push(`camera: ${error.message || error.name}`); return null; });
    if (!live.microphone) live.microphone = await openMicrophone().catch((error) => { problems.push(`microphone: ${error.message || error.name}`); return null; });
    if (problems.length) idle.textContent = `No ${problems.join("; no ")}.`;
    idle.hidden = Boolean(live.stream);
    live.pending.clear();
    live.chunks = [];
    live.running = true;
    tick();
    return Boolean(live.stream || live.microphone);
  },
  async stop() {
    live.running = false;
    clearTimeout(live.timer);
    live.pending.clear();
    clearOverlay();
    live.stream?.getTracks().forEach((track) => track.stop());
    live.stream = null;
    video.srcObject = null;
    if (live.microphone) {
      live.microphone.stream.getTracks().forEach((track) => track.stop());
      live.microphone.context.close();
      live.microphone = null;
    }
    await live.chunkInFlight;  // the last chunk lands before Stop reaches the server
    live.chunks = [];
    idle.textContent = idleText;
    idle.hidden = false;
  },
  // A full-size mirrored frame for an annotated snapshot (a JPEG data URL), or null when the camera is off.
  snapshot() {
    if (!video.videoWidth) return null;
    draw(video.videoWidth);
    return grab.toDataURL("image/jpeg", CONFIG.snapshot_quality);
  },
};
