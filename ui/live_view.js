// The Live tab's preview: the page shows the camera itself, sends the server a small mirrored JPEG
// of the newest frame (at most MAX_IN_FLIGHT unanswered) and draws each reading that comes back
// over the video. `CONFIG` is filled in by app.py. Gradio runs this with `element` (the component),
// `trigger` (raise an event on it), `server` (its server functions), `props` (its value) and `watch`.
const CONFIG = LIVE_CONFIG;
const video = element.querySelector("video");
const overlay = element.querySelector("canvas");
const idle = element.querySelector(".live-idle");
const chips = Object.fromEntries([...element.querySelectorAll("[data-channel]")].map(
  (chip) => [chip.dataset.channel, chip.querySelector(".value")]));
const grab = document.createElement("canvas");
// Names this page's session to the server: its frames are plain requests, outside Gradio's session.
const token = [...crypto.getRandomValues(new Uint8Array(CONFIG.token_chars / 2))]
  .map((byte) => byte.toString(16).padStart(2, "0")).join("");
const live = {narrowUntil: -1, stream: null, running: false, number: 0, pending: new Map(), painted: 0, sentAt: -1e9, barsAt: -1e9};
window.liveUpdates = 0;  // readings painted so far (the live benchmark reads it)
window.liveLatencies = [];  // ms from a frame's capture to its reading painted, the last LATENCIES_KEPT

// The video as shown (mirrored), at most `width` pixels wide, as a JPEG data URL.
const capture = (width, quality) => {
  const scale = Math.min(1, width / video.videoWidth);
  grab.width = Math.round(video.videoWidth * scale);
  grab.height = Math.round(video.videoHeight * scale);
  const ctx = grab.getContext("2d");
  ctx.imageSmoothingQuality = "high";
  ctx.setTransform(-1, 0, 0, 1, grab.width, 0);
  ctx.drawImage(video, 0, 0, grab.width, grab.height);
  return grab.toDataURL("image/jpeg", quality);
};

// Send the newest frame when one is due and fewer than MAX_IN_FLIGHT wait for their reading: one plain
// request each (the preview's server function), answered with the reading; the bars and status below
// come through a Gradio event a few times a second.
const send = () => {
  if (!live.running || !video.videoWidth) return;
  const now = performance.now();
  if (now - live.barsAt >= CONFIG.bars_every_ms) {
    live.barsAt = now;
    trigger("bars", {token});
  }
  for (const [number, at] of live.pending) if (now - at > CONFIG.stale_ms) live.pending.delete(number);
  if (live.pending.size >= CONFIG.max_in_flight || now - live.sentAt < CONFIG.frame_every_ms) return;
  const number = ++live.number;
  live.pending.set(number, now);
  live.sentAt = now;
  server.live_frame_request({token, number, image: capture(CONFIG.send_width, CONFIG.send_quality),
                             width: video.videoWidth, height: video.videoHeight})
    .then(apply, () => { live.pending.delete(number); });
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
  send();
};
watch("value", () => apply(props.value));
setInterval(send, CONFIG.tick_ms);

// The microphone at the voice model's own rate when Start opens it (the recorder and its waveform
// each open one): Gradio's recorder encodes WAV at the track's rate, and a 16 kHz mono track takes a
// third of a 48 kHz one's uplink.
const getUserMedia = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
navigator.mediaDevices.getUserMedia = async (constraints) => {
  const stream = await getUserMedia(constraints);
  if (performance.now() > live.narrowUntil || !constraints?.audio || constraints.video) return stream;
  const context = new AudioContext({sampleRate: CONFIG.microphone_rate});
  const destination = new MediaStreamAudioDestinationNode(context, {channelCount: 1});
  context.createMediaStreamSource(stream).connect(destination);
  context.resume();
  const [track] = destination.stream.getAudioTracks(), stopTrack = track.stop.bind(track);
  track.stop = () => {  // stopping the recording stops the microphone itself
    stopTrack();
    stream.getTracks().forEach((source) => source.stop());
    context.close();
  };
  return destination.stream;
};

window.liveView = {
  async start() {
    if (!live.stream) {
      try {
        live.stream = await navigator.mediaDevices.getUserMedia({video: CONFIG.constraints, audio: false});
      } catch (error) {
        idle.textContent = `No camera: ${error.message || error.name}. The microphone goes on alone.`;
        return false;
      }
      video.srcObject = live.stream;
      await video.play();
    }
    idle.hidden = true;
    live.pending.clear();
    live.running = true;
    return true;
  },
  stop() {
    live.running = false;
    live.pending.clear();
    clearOverlay();
    live.stream?.getTracks().forEach((track) => track.stop());
    live.stream = null;
    video.srcObject = null;
    idle.hidden = false;
  },
  narrowMicrophone() { live.narrowUntil = performance.now() + CONFIG.narrow_ms; },
  // A full-size mirrored frame for an annotated snapshot, or null when the camera is off.
  snapshot: () => (video.videoWidth ? capture(video.videoWidth, CONFIG.snapshot_quality) : null),
};
