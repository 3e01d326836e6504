// The Compare player: one set of controls over several <video> elements.
//
// The longest video is the clock; the others follow it (a hard seek when they
// drift by more than a few frames, a nudged playback rate for smaller drift).
// State shared with the kernel: current_time, playing, rate (this view writes
// them when the user acts, and obeys them when the kernel sets them).
// Every text goes through textContent; only http(s), blob: and our own data
// URLs ever reach a src.

const SAFE_SRC = /^(https?:\/\/|blob:|data:(video|image)\/)/i;
const HARD_DRIFT = 0.15; // seconds: seek the follower
const SOFT_DRIFT = 0.03; // seconds: nudge its rate
const REPORT_EVERY_MS = 500;
const SNAPSHOT_CLASS = /^kitta-snap-[0-9a-f]{16}$/;

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

function clock(seconds) {
  if (!Number.isFinite(seconds)) return "0:00.00";
  const m = Math.floor(seconds / 60);
  const s = (seconds - m * 60).toFixed(2).padStart(5, "0");
  return `${m}:${s}`;
}

function render({ model, el: root }) {
  const texts = model.get("texts") || {};
  const fps = model.get("fps") > 0 ? model.get("fps") : 25;
  const blobUrls = [];
  const videos = [];
  const box = el("div", "kitta-compare-player");
  const grid = el("div", "kitta-compare-grid");
  box.appendChild(grid);

  for (const tile of model.get("tiles") || []) {
    const cell = el("div", "kitta-compare-tile");
    cell.dataset.role = tile.role === "source" ? "source" : "result";
    const caption = el("div", "kitta-compare-label", tile.caption || "");
    cell.appendChild(caption);
    let src = null;
    if (tile.data && tile.mime) {
      const url = URL.createObjectURL(new Blob([tile.data], { type: tile.mime }));
      blobUrls.push(url);
      src = url;
    } else if (!tile.problem && typeof tile.url === "string" && SAFE_SRC.test(tile.url)) {
      src = tile.url;
    }
    if (!src) {
      cell.appendChild(el("div", "kitta-compare-problem", tile.problem || "—"));
    } else if (tile.kind === "image") {
      const img = el("img", "kitta-compare-media");
      img.alt = "";
      img.src = src;
      cell.appendChild(img);
    } else {
      const video = el("video", "kitta-compare-media");
      video.preload = "auto";
      video.playsInline = true;
      video.muted = tile.role === "source";
      video.dataset.role = cell.dataset.role;
      video.src = src;
      cell.appendChild(video);
      videos.push({ video, caption: tile.caption || "" });
    }
    grid.appendChild(cell);
  }

  const bar = el("div", "kitta-compare-controls");
  const back = el("button", "kitta-compare-back", "|◀");
  back.title = texts.frame_back || "";
  const playButton = el("button", "kitta-compare-play", "▶");
  playButton.title = texts.play || "";
  const forward = el("button", "kitta-compare-forward", "▶|");
  forward.title = texts.frame_forward || "";
  const seek = el("input", "kitta-compare-seek");
  seek.type = "range";
  seek.min = "0";
  seek.step = String(1 / fps);
  seek.value = "0";
  const time = el("span", "kitta-compare-time", "0:00.00");
  const speed = el("select", "kitta-compare-rate");
  speed.title = texts.speed || "";
  for (const r of [0.25, 0.5, 1, 1.5, 2]) {
    const option = el("option", "", `${r}×`);
    option.value = String(r);
    speed.appendChild(option);
  }
  const sound = el("select", "kitta-compare-sound");
  sound.title = texts.sound || "";
  sound.appendChild(Object.assign(el("option", "", texts.mute_all || "none"), { value: "-1" }));
  videos.forEach(({ caption }, i) => {
    sound.appendChild(Object.assign(el("option", "", caption), { value: String(i) }));
  });
  const audible = videos.findIndex(({ video }) => !video.muted);
  sound.value = String(audible);
  const soundLabel = el("label", "kitta-compare-sound-label", `${texts.sound || "Sound"}: `);
  soundLabel.appendChild(sound);
  for (const node of [back, playButton, forward, seek, time, speed, soundLabel]) {
    bar.appendChild(node);
  }
  if (videos.length) box.appendChild(bar);
  // While this view is drawn, the static snapshot shown before it is hidden (after a
  // restart the view cannot draw, this style is absent and the snapshot shows).
  const snapshot = model.get("snapshot_class");
  if (typeof snapshot === "string" && SNAPSHOT_CLASS.test(snapshot)) {
    box.appendChild(el("style", "", `.${snapshot}{display:none}`));
  }
  root.appendChild(box);

  const all = () => videos.map((v) => v.video);
  // The clock: the longest video once durations are known, else the first.
  const leader = () =>
    all().reduce(
      (best, v) => ((v.duration || 0) > (best.duration || 0) ? v : best),
      all()[0],
    );
  const duration = () => Math.max(0, ...all().map((v) => v.duration || 0));
  let playing = false;
  let frame = 0;
  let lastReport = 0;

  function report(force) {
    const now = performance.now();
    if (!force && now - lastReport < REPORT_EVERY_MS) return;
    lastReport = now;
    const lead = leader();
    model.set("current_time", lead ? lead.currentTime : 0);
    model.set("playing", playing);
    model.set("duration", duration());
    model.save_changes();
  }

  function showTime() {
    const lead = leader();
    const t = lead ? lead.currentTime : 0;
    if (document.activeElement !== seek) seek.value = String(t);
    time.textContent = `${clock(t)} / ${clock(duration())}`;
    playButton.textContent = playing ? "||" : "▶";
    playButton.title = (playing ? texts.pause : texts.play) || "";
  }

  function seekAll(t) {
    const target = Math.max(0, Math.min(t, duration() || t));
    for (const v of all()) v.currentTime = Math.min(target, v.duration || target);
    showTime();
  }

  function follow() {
    const lead = leader();
    if (!lead) return;
    const rate = Number(speed.value) || 1;
    for (const v of all()) {
      if (v === lead) continue;
      const end = v.duration || 0;
      if (lead.currentTime >= end) continue; // this one is shorter: it rests on its last frame
      const drift = v.currentTime - lead.currentTime;
      if (Math.abs(drift) > HARD_DRIFT) {
        v.currentTime = lead.currentTime;
        v.playbackRate = rate;
      } else if (Math.abs(drift) > SOFT_DRIFT) {
        v.playbackRate = rate * (drift > 0 ? 0.95 : 1.05);
      } else {
        v.playbackRate = rate;
      }
      if (playing && v.paused && lead.currentTime < end) v.play().catch(() => {});
    }
  }

  function tick() {
    follow();
    showTime();
    report(false);
    if (playing) frame = requestAnimationFrame(tick);
  }

  async function play() {
    if (playing || !videos.length) return;
    if (leader().ended || leader().currentTime >= duration() - 0.01) seekAll(0);
    playing = true;
    const lead = leader();
    try {
      await lead.play();
    } catch (err) {
      // A browser that refuses audible autoplay still plays muted.
      lead.muted = true;
      sound.value = "-1";
      try {
        await lead.play();
      } catch (again) {
        playing = false;
        report(true);
        showTime();
        return;
      }
    }
    for (const v of all()) if (v !== lead && v.currentTime < (v.duration || 0)) v.play().catch(() => {});
    cancelAnimationFrame(frame);
    frame = requestAnimationFrame(tick);
    report(true);
  }

  function pause() {
    playing = false;
    cancelAnimationFrame(frame);
    for (const v of all()) v.pause();
    const lead = leader();
    if (lead) seekAll(lead.currentTime); // park every follower on the clock's frame
    report(true);
    showTime();
  }

  function step(frames) {
    if (playing) pause();
    const lead = leader();
    if (!lead) return;
    seekAll(lead.currentTime + frames / fps);
    report(true);
  }

  const listeners = [];
  function on(target, name, handler) {
    target.addEventListener(name, handler);
    listeners.push([target, name, handler]);
  }
  on(playButton, "click", () => (playing ? pause() : play()));
  on(back, "click", () => step(-1));
  on(forward, "click", () => step(1));
  on(seek, "input", () => {
    seekAll(Number(seek.value));
    report(true);
  });
  on(speed, "change", () => {
    model.set("rate", Number(speed.value));
    model.save_changes();
  });
  on(sound, "change", () => {
    const pick = Number(sound.value);
    all().forEach((v, i) => (v.muted = i !== pick));
  });
  for (const v of all()) {
    on(v, "loadedmetadata", () => {
      seek.max = String(duration());
      showTime();
      report(true);
    });
    on(v, "ended", () => {
      if (v === leader()) pause();
    });
  }

  function applyRate() {
    const rate = Number(model.get("rate")) || 1;
    speed.value = String(rate);
    for (const v of all()) v.playbackRate = rate;
  }
  function applyPlaying() {
    const want = !!model.get("playing");
    if (want !== playing) want ? play() : pause();
  }
  function applyTime() {
    const lead = leader();
    const t = Number(model.get("current_time")) || 0;
    if (lead && Math.abs(lead.currentTime - t) > 0.25) seekAll(t);
  }
  model.on("change:rate", applyRate);
  model.on("change:playing", applyPlaying);
  model.on("change:current_time", applyTime);
  applyRate();
  showTime();

  return () => {
    cancelAnimationFrame(frame);
    model.off("change:rate", applyRate);
    model.off("change:playing", applyPlaying);
    model.off("change:current_time", applyTime);
    for (const [target, name, handler] of listeners) target.removeEventListener(name, handler);
    for (const v of all()) {
      v.pause();
      v.removeAttribute("src");
      v.load();
    }
    for (const url of blobUrls) URL.revokeObjectURL(url);
  };
}

export default { render };
