"use strict";
// The interactive parts of report.html, built from the JSON in #report-data (no network, works from file://).
(function () {
  const data = JSON.parse(document.getElementById("report-data").textContent);
  const video = document.getElementById("video");
  const timeline = document.getElementById("timeline");
  const duration = Math.max(data.duration, 1e-6);
  const textTracks = {};  // track id -> TextTrack

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  const fmt = (s) => `${Math.floor(s / 60)}:${(s % 60).toFixed(2).padStart(5, "0")}`;
  const frac = (t) => Math.min(Math.max(t / duration, 0), 1);
  const pct = (t) => `${(100 * frac(t)).toFixed(3)}%`;
  const chip = (colour) => { const c = el("span", "chip"); c.style.background = colour; return c; };

  function seek(t) {
    if (video) video.currentTime = Math.min(Math.max(t, 0), duration);
    timeline.style.setProperty("--t", frac(t));
  }

  function select(id, scroll) {
    document.querySelectorAll(".selected").forEach((e) => e.classList.remove("selected"));
    document.querySelectorAll(`.lane[data-track="${id}"], .card[data-track="${id}"]`)
      .forEach((e) => e.classList.add("selected"));
    const card = document.getElementById(`track-${id}`);
    if (scroll && card) card.scrollIntoView({block: "nearest"});
  }

  // One WebVTT track per object. The cues travel inside the page as a blob: URL, because browsers refuse
  // <track src="x.vtt"> on a page opened from file:// (a cross-origin load).
  function addTextTrack(track) {
    const t = document.createElement("track");
    t.kind = "subtitles";
    t.label = track.label;
    t.srclang = data.language;
    t.src = URL.createObjectURL(new Blob([track.vtt], {type: "text/vtt"}));
    t.dataset.track = track.id;
    video.appendChild(t);
    t.track.mode = "hidden";  // loads the cues; the CC box shows them
    textTracks[track.id] = t.track;
  }

  function lane(track) {
    const row = el("div", "lane");
    row.dataset.track = track.id;
    const head = el("div", "lane-head");
    const name = el("button", "lane-name", track.label);
    name.type = "button";
    name.title = `${track.label}: show its card`;
    name.onclick = () => { seek(track.start); select(track.id, true); };
    head.append(chip(track.colour), name);
    if (video) {
      const cc = el("label", "cc");
      const box = el("input");
      box.type = "checkbox";
      box.title = "Show its captions as subtitles on the video";
      box.onchange = () => { textTracks[track.id].mode = box.checked ? "showing" : "hidden"; };
      cc.append(box, "CC");
      head.append(cc);
    }
    const bar = el("div", "lane-bar");
    bar.title = `${track.label}: seen ${fmt(track.start)}–${fmt(track.end)}`;
    track.spans.forEach(([start, end]) => {  // where it is seen (gaps: occluded or missed)
      const span = el("div", "span");
      span.style.left = pct(start);
      span.style.width = pct(end - start);
      span.style.background = track.colour;
      bar.append(span);
    });
    track.captions.forEach((c) => {
      const seg = el("div", "seg", c.text);
      seg.style.left = pct(c.start);
      seg.style.width = pct(c.end - c.start);
      seg.style.borderColor = track.colour;
      seg.title = `${fmt(c.start)}–${fmt(c.end)}: ${c.text}`;
      seg.onclick = (ev) => { ev.stopPropagation(); seek(c.start); select(track.id, false); };
      bar.append(seg);
    });
    bar.onclick = () => { seek(track.start); select(track.id, false); };
    row.append(head, bar);
    return row;
  }

  function ruler() {
    const row = el("div", "ruler");
    const axis = el("div", "axis");
    const steps = [0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600];
    const step = steps.find((s) => duration / s <= 10) || 7200;
    for (let t = 0; t < duration - step / 2; t += step) {
      const label = duration < 60 ? `${+t.toFixed(1)} s` : `${Math.floor(t / 60)}:${String(Math.round(t % 60)).padStart(2, "0")}`;
      const tick = el("span", "tick", label);
      tick.style.left = pct(t);
      axis.append(tick);
    }
    row.append(el("div", null, ""), axis);
    return row;
  }

  function highlighted(text, query) {
    const li = el("span", "text");
    const at = query ? text.toLowerCase().indexOf(query) : -1;
    if (at < 0) { li.textContent = text; return li; }
    li.append(text.slice(0, at), el("mark", null, text.slice(at, at + query.length)), text.slice(at + query.length));
    return li;
  }

  function captionList(track, query) {
    const list = el("ol", "captions");
    if (!track.captions.length) list.append(el("li", "empty", "no caption"));
    track.captions.forEach((c) => {
      const li = el("li");
      const time = el("button", "time", `${fmt(c.start)}–${fmt(c.end)}`);
      time.type = "button";
      time.onclick = () => { seek(c.start); select(track.id, false); };
      li.append(time, highlighted(c.text, query));
      list.append(li);
    });
    return list;
  }

  function card(track) {
    const c = el("article", "card");
    c.dataset.track = track.id;
    c.id = `track-${track.id}`;
    c.style.borderLeftColor = track.colour;
    const h = el("h3");
    h.append(chip(track.colour), track.label);
    const meta = el("p", "meta", `${fmt(track.start)}–${fmt(track.end)} · ${track.frames} frames · ` +
                     `mean score ${track.score.toFixed(2)} · ${track.thumbs.filter((t) => t.seen).length} keyframes DAM saw`);
    const thumbs = el("div", "thumbs");
    track.thumbs.forEach((t) => {
      const fig = el("figure", "thumb");
      const img = el("img");
      img.src = t.src;
      img.alt = `${track.label} in frame ${t.frame}`;
      img.title = `frame ${t.frame} at ${fmt(t.time)}: click to seek`;
      img.onclick = () => { seek(t.time); select(track.id, false); };
      const mark = t.prompt ? (t.seen ? " · prompt" : " · prompt, not seen") : "";
      fig.append(img, el("figcaption", null, `#${t.frame} · ${fmt(t.time)}${mark}`));
      thumbs.append(fig);
    });
    const links = el("p", "links");
    Object.entries(track.files).forEach(([kind, name], n) => {
      const a = el("a", null, kind);
      a.href = name;
      if (n) links.append(" · ");
      links.append(a);
    });
    c.append(h, meta, thumbs, captionList(track, ""), links);
    return c;
  }

  function applyFilter() {
    const cls = document.getElementById("class-filter").value;
    const query = document.getElementById("search").value.trim().toLowerCase();
    let shown = 0;
    data.tracks.forEach((t) => {
      const ok = (!cls || t.class === cls) && (!query || t.label.toLowerCase().includes(query) ||
                                                t.captions.some((c) => c.text.toLowerCase().includes(query)));
      document.querySelectorAll(`.lane[data-track="${t.id}"], .card[data-track="${t.id}"]`)
        .forEach((e) => { e.hidden = !ok; });
      const card = document.getElementById(`track-${t.id}`);
      card.querySelector(".captions").replaceWith(captionList(t, query));
      shown += ok ? 1 : 0;
    });
    document.getElementById("shown").textContent = `${shown} of ${data.tracks.length} tracks shown`;
  }

  function table(title, rows) {
    const t = el("table");
    t.append(el("caption", null, title));
    Object.entries(rows).forEach(([k, v]) => {
      const tr = el("tr");
      const text = v === null || v === undefined ? "—" : typeof v === "object" ? JSON.stringify(v) : String(v);
      tr.append(el("th", null, k), el("td", null, text));
      t.append(tr);
    });
    return t;
  }

  function build() {
    const classes = [...new Set(data.tracks.map((t) => t.class))].sort();
    const classFilter = document.getElementById("class-filter");
    classes.forEach((c) => { const o = el("option", null, c); o.value = c; classFilter.append(o); });
    classFilter.onchange = applyFilter;
    document.getElementById("search").oninput = applyFilter;
    if (video) data.tracks.forEach(addTextTrack);
    const lanes = document.getElementById("lanes");
    lanes.append(ruler());
    data.tracks.forEach((t) => lanes.append(lane(t)));
    const grid = document.getElementById("cards");
    data.tracks.forEach((t) => grid.append(card(t)));
    if (!data.tracks.length) {
      lanes.append(el("p", "empty", "No object of the classes was found."));
    }
    const tables = document.getElementById("tables");
    Object.entries(data.run).forEach(([title, rows]) => tables.append(table(title, rows)));
    applyFilter();
    if (video) {
      const follow = () => {
        timeline.style.setProperty("--t", frac(video.currentTime));
        if (!video.paused) requestAnimationFrame(follow);
      };
      video.addEventListener("timeupdate", follow);
      video.addEventListener("play", follow);
      video.addEventListener("seeked", follow);
    }
  }

  build();
})();
