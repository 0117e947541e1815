// The browser side of actconf's explorer (an anywidget ES module; no build step).
//
// The kernel sends, for the current setting, the values of every snapshot once
// (traits scene_maps, scene_curves, scene_correlation; see actconf/widgets/_scene.py):
// maps as one colour index per pixel plus a bit mask of missing pixels, charts and
// the scatter as numbers. Everything is drawn here, so moving the slider, pressing
// the arrow keys or Play never waits for the kernel. Canvases are sized to their
// CSS box times the device pixel ratio (sharp, never stretched); the panels wrap to
// the width of the output area.
//
// For tests and benchmarks the root element carries data-frame (the snapshot shown)
// and data-frames-drawn (a counter) after every drawn frame.

const SVG = "http://www.w3.org/2000/svg";
const MAP_MIN = 72; // CSS px per map, smallest before the grid wraps its columns
const MAP_MAX = 100; // CSS px per map (= the map resolution at device pixel ratio 1)
const GAP = 6;
const UNDERLAY = [224, 224, 224, 255]; // missing values inside the drawn region (as in the static figures)

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k === "style") Object.assign(node.style, v);
    else node.setAttribute(k, v);
  }
  for (const c of children) if (c) node.append(c);
  return node;
}

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function bytes(v) {
  if (!v) return new Uint8Array(0);
  if (v instanceof Uint8Array) return v;
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  return new Uint8Array(0);
}

function floats(v) {
  const b = bytes(v);
  return new Float32Array(b.slice().buffer); // a copy: float32 views need 4-byte alignment
}

function unpackBits(packed, n) {
  const out = new Uint8Array(n);
  for (let p = 0; p < n; p++) out[p] = (packed[p >> 3] >> (7 - (p & 7))) & 1;
  return out;
}

// Send a trait to the kernel; a notebook reopened from its saved widget state has none (then the
// change stays in the page: the slider and Play work, settings need a kernel).
function push(model, values) {
  for (const [k, v] of Object.entries(values)) model.set(k, v);
  try {
    model.save_changes();
    return true;
  } catch (err) {
    return false;
  }
}

function dpr() {
  return window.devicePixelRatio || 1;
}

// ---------------------------------------------------------------------------- map grids
// A grid of maps is drawn into one canvas per line of columns (maps, outlines and the
// notes under them); labels and colour bars are HTML around it. Each drawn frame is kept
// (ImageData, up to CACHE_BYTES per grid) and the others are drawn in idle time, so that
// a key press only copies pixels.
const NOTE_H = 28; // CSS px under each map for its two-line note
const ROW_GAP = 4;
const CACHE_BYTES = 160 << 20;

class MapGrid {
  constructor(opts = {}) {
    this.node = el("div", { class: "ac-grid" });
    this.fixedSize = opts.size || 0; // CSS px per map (0: fit the width)
    this.notesShown = opts.notes !== false;
    this.scene = null;
    this.layoutKey = "";
    this.lines = [];
  }

  setScene(scene) {
    this.scene = scene;
    const { height: h, width: w } = scene;
    this.h = h;
    this.w = w;
    this.n = h * w;
    this.maps = scene.rows.length * scene.cols.length;
    this.valid = unpackBits(bytes(scene.valid), this.n);
    this.drawn = this.valid.reduce((a, b) => a + b, 0); // indices are sent for these pixels only
    this.frameBytes = this.maps * this.drawn;
    this.indices = bytes(scene.indices);
    this.nan = bytes(scene.nan); // empty: no map misses a pixel inside the drawn region
    this.nanBytes = this.nan.length ? this.maps * Math.ceil(this.n / 8) : 0;
    this.lut = new Uint32Array(bytes(scene.lut).slice().buffer);
    this.under = new Uint32Array(new Uint8Array(UNDERLAY).buffer)[0];
    this.remote = !!scene.remote;
    this.remoteFrames = new Map(); // remote frames: index -> [indices, nan]
    if (this.remote && scene.frame >= 0) this.remoteFrames.set(scene.frame, [this.indices, this.nan]);
    this.offscreen = document.createElement("canvas");
    this.offscreen.width = w;
    this.offscreen.height = h;
    this.octx = this.offscreen.getContext("2d");
    this.image = this.octx.createImageData(w, h);
    this.pixels = new Uint32Array(this.image.data.buffer);
    this.layoutKey = "";
  }

  // Choose the map size and the columns per line for the available width (leaving ``reserve`` px
  // for a panel beside the grid when the grid then still fits on one line); rebuild if it changed.
  layout(width, reserve = 0) {
    const sc = this.scene;
    if (!sc) return;
    const cols = sc.cols.length;
    const hasRows = sc.rows.some((r) => r);
    const fixed = (hasRows ? 74 : 0) + 48 + GAP * 2; // row labels, colour bar with ticks
    const fit = (w) => {
      const avail = Math.max(MAP_MIN, w - fixed);
      let k = cols;
      if (cols * (MAP_MIN + GAP) > avail) {
        k = Math.max(1, Math.floor(avail / (MAP_MIN + GAP)));
        k = Math.ceil(cols / Math.ceil(cols / k)); // lines of equal length: 10 columns as 5 + 5, not 9 + 1
      }
      return [k, Math.max(MAP_MIN, Math.min(MAP_MAX, Math.floor(avail / k) - GAP))];
    };
    let [k, size] = this.fixedSize ? [cols, this.fixedSize] : fit(width - reserve);
    if (!this.fixedSize && k < cols) [k, size] = fit(width);
    const key = `${sc.key}|${k}|${size}|${dpr()}`;
    if (key === this.layoutKey) return;
    this.layoutKey = key;
    this.size = size;
    this.build(k, size, hasRows);
  }

  build(k, size, hasRows) {
    const sc = this.scene;
    const rows = sc.rows.length;
    const cols = sc.cols.length;
    const noteH = this.notesShown ? NOTE_H : 0;
    this.node.replaceChildren();
    if (sc.title) this.node.append(el("div", { class: "ac-title", text: sc.title }));
    const scale = sc.cmap === "Reds" ? "sequential from 0" : "diverging, white at 0";
    this.node.append(el("div", { class: "ac-subtitle", text: `colour: ${sc.quantity} (${scale})` }));
    this.lines = [];
    this.cellH = size + noteH;
    for (let start = 0; start < cols; start += k) {
      const stop = Math.min(cols, start + k);
      const line = el("div", { class: "ac-grid-line" });
      line.style.gridTemplateColumns = `${hasRows ? "auto " : ""}auto auto`;
      line.style.gridTemplateRows = `auto repeat(${rows}, ${this.cellH}px)`;
      line.style.rowGap = `${ROW_GAP}px`;
      if (hasRows) line.append(el("div"));
      const header = el("div", { class: "ac-col-labels" });
      header.style.gridTemplateColumns = `repeat(${stop - start}, ${size}px)`;
      header.style.columnGap = `${GAP}px`;
      for (let c = start; c < stop; c++) header.append(el("div", { class: "ac-col-label", text: sc.cols[c] }));
      line.append(header, el("div"));
      const cssW = (stop - start) * size + (stop - start - 1) * GAP;
      const cssH = rows * this.cellH + (rows - 1) * ROW_GAP;
      const canvas = el("canvas", { class: "ac-maps" });
      canvas.style.width = `${cssW}px`;
      canvas.style.height = `${cssH}px`;
      canvas.width = Math.round(cssW * dpr());
      canvas.height = Math.round(cssH * dpr());
      canvas.style.gridRow = `2 / span ${rows}`;
      canvas.style.gridColumn = hasRows ? "2" : "1";
      for (let r = 0; r < rows; r++) {
        if (hasRows) {
          const label = el("div", { class: "ac-row-label", text: sc.rows[r] });
          label.style.gridRow = String(r + 2);
          label.style.gridColumn = "1";
          label.style.height = `${size}px`;
          line.append(label);
        }
      }
      line.append(canvas);
      const bars = sc.share_rows ? rows : 1;
      for (let b = 0; b < bars; b++) {
        const bar = this.colourBar(b, size, sc.share_rows ? 1 : rows);
        bar.style.gridRow = sc.share_rows ? String(b + 2) : `2 / span ${rows}`;
        bar.style.gridColumn = hasRows ? "3" : "2";
        line.append(bar);
      }
      this.node.append(line);
      this.lines.push({ start, stop, canvas, ctx: canvas.getContext("2d"), cache: new Map() });
    }
    this.cacheBytes = 0;
    this.scheduleIdle();
  }

  colourBar(row, size, span) {
    const sc = this.scene;
    const height = Math.max(60, span * (this.cellH + ROW_GAP) - ROW_GAP - (this.notesShown ? NOTE_H : 0));
    const box = el("div", { class: "ac-cbar" });
    const canvas = el("canvas", { class: "ac-cbar-strip" });
    canvas.style.height = `${height}px`;
    canvas.width = Math.round(12 * dpr());
    canvas.height = Math.round(height * dpr());
    const ctx = canvas.getContext("2d");
    const lut = bytes(sc.lut);
    for (let y = 0; y < canvas.height; y++) {
      const i = Math.min(255, Math.floor(((canvas.height - 1 - y) / canvas.height) * 256));
      ctx.fillStyle = `rgb(${lut[4 * i]},${lut[4 * i + 1]},${lut[4 * i + 2]})`;
      ctx.fillRect(0, y, canvas.width, 1);
    }
    const ticks = el("div", { class: "ac-cbar-ticks" });
    ticks.style.height = `${height}px`;
    const [lo, hi] = sc.limits[row];
    for (const [v, label] of sc.ticks[Math.min(row, sc.ticks.length - 1)]) {
      const t = el("span", { text: label });
      t.style.top = `${(1 - (v - lo) / (hi - lo)) * 100}%`;
      ticks.append(t);
    }
    box.append(canvas, ticks); // the quantity is named above the grid
    return box;
  }

  frameData(i) {
    if (!this.remote) {
      return [this.indices.subarray(i * this.frameBytes, (i + 1) * this.frameBytes),
        this.nan.subarray(i * this.nanBytes, (i + 1) * this.nanBytes)];
    }
    return this.remoteFrames.get(i) || null;
  }

  addRemote(i, indices, nan) {
    this.remoteFrames.set(i, [bytes(indices), bytes(nan)]);
    while (this.remoteFrames.size > 16) this.remoteFrames.delete(this.remoteFrames.keys().next().value);
  }

  // Draw frame i of one line into ctx (a canvas of the line's size).
  paint(ctx, line, i) {
    const sc = this.scene;
    const [idx, nan] = this.frameData(i);
    const cols = sc.cols.length;
    const r = dpr();
    const size = this.size * r;
    const nanPer = Math.ceil(this.n / 8);
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, ctx.canvas.width, ctx.canvas.height);
    ctx.imageSmoothingEnabled = true;
    ctx.font = `${11 * r}px ${getComputedStyle(this.node).fontFamily}`;
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    ctx.fillStyle = "#555";
    for (let row = 0; row < sc.rows.length; row++) {
      for (let c = line.start; c < line.stop; c++) {
        const m = row * cols + c;
        let q = m * this.drawn; // the next drawn pixel's index
        const nbase = m * nanPer;
        const px = this.pixels;
        const missing = nan.length > 0;
        for (let p = 0; p < this.n; p++) {
          if (!this.valid[p]) px[p] = 0;
          else if (missing && (nan[nbase + (p >> 3)] >> (7 - (p & 7))) & 1) {
            px[p] = this.under;
            q++;
          } else px[p] = this.lut[idx[q++]];
        }
        this.octx.putImageData(this.image, 0, 0);
        const x = Math.round((c - line.start) * (this.size + GAP) * r);
        const y = Math.round(row * (this.cellH + ROW_GAP) * r);
        ctx.drawImage(this.offscreen, x, y, size, size);
        this.outline(ctx, x, y, size);
        if (this.notesShown && sc.notes[i]) {
          const [first, second] = String(sc.notes[i][row][c]).split(" · ");
          ctx.fillText(first || "", x + size / 2, y + size + 2 * r, size + GAP * r);
          if (second) ctx.fillText(second, x + size / 2, y + size + 14 * r, size + GAP * r);
        }
      }
    }
  }

  draw(i) {
    if (!this.scene || !this.lines.length || !this.frameData(i)) return false;
    for (const line of this.lines) {
      const cached = line.cache.get(i);
      if (cached) {
        line.ctx.putImageData(cached, 0, 0);
        continue;
      }
      this.paint(line.ctx, line, i);
      this.keep(line, i, line.ctx);
    }
    return true;
  }

  keep(line, i, ctx) {
    if (this.remote) return;
    const bytesPer = ctx.canvas.width * ctx.canvas.height * 4;
    if (this.cacheBytes + bytesPer > CACHE_BYTES) return;
    line.cache.set(i, ctx.getImageData(0, 0, ctx.canvas.width, ctx.canvas.height));
    this.cacheBytes += bytesPer;
  }

  // Draw the frames not drawn yet in idle time, off screen.
  scheduleIdle() {
    if (this.remote) return;
    const layoutKey = this.layoutKey;
    const idle = window.requestIdleCallback || ((f) => setTimeout(() => f({ timeRemaining: () => 8 }), 30));
    const work = (deadline) => {
      if (this.layoutKey !== layoutKey) return;
      for (const line of this.lines) {
        if (!line.spare) {
          line.spare = document.createElement("canvas");
          line.spare.width = line.canvas.width;
          line.spare.height = line.canvas.height;
          line.sctx = line.spare.getContext("2d");
        }
        for (let i = 0; i < this.scene.frames; i++) {
          if (line.cache.has(i)) continue;
          if (deadline.timeRemaining() < 3 || this.cacheBytes >= CACHE_BYTES) {
            if (this.cacheBytes < CACHE_BYTES) idle(work);
            return;
          }
          this.paint(line.sctx, line, i);
          this.keep(line, i, line.sctx);
        }
      }
    };
    idle(work);
  }

  outline(ctx, x, y, size) {
    const o = this.scene.outline;
    if (!o) return;
    ctx.strokeStyle = "#8c8c8c";
    ctx.lineWidth = 0.8 * dpr();
    ctx.beginPath();
    if (o.circle) {
      const [cx, cy, rx, ry] = o.circle;
      ctx.ellipse(x + cx * size, y + cy * size, rx * size, ry * size, 0, 0, 2 * Math.PI);
    } else {
      o.polygon.forEach(([px, py], j) => (j ? ctx.lineTo(x + px * size, y + py * size)
        : ctx.moveTo(x + px * size, y + py * size)));
      ctx.closePath();
    }
    ctx.stroke();
  }
}

// ---------------------------------------------------------------------------- axes, charts, scatter
const MARGIN = { left: 52, right: 10, top: 22, bottom: 34 };

class Axes {
  constructor(spec, width, height, extraRight = 0) {
    this.spec = spec;
    this.width = width;
    this.height = height;
    this.x0 = MARGIN.left;
    this.x1 = width - MARGIN.right - extraRight;
    this.y0 = MARGIN.top;
    this.y1 = height - MARGIN.bottom;
    this.node = svg("svg", { class: "ac-chart", width, height, viewBox: `0 0 ${width} ${height}` });
    this.draw();
  }

  sx(v) {
    const [a, b] = this.spec.xlim;
    return this.x0 + ((v - a) / (b - a)) * (this.x1 - this.x0);
  }

  sy(v) {
    const [a, b] = this.spec.ylim;
    return this.y1 - ((v - a) / (b - a)) * (this.y1 - this.y0);
  }

  draw() {
    const s = this.spec;
    const g = svg("g", { class: "ac-axes" });
    for (const [v, label] of s.xticks || []) {
      const x = this.sx(v);
      g.append(svg("line", { x1: x, x2: x, y1: this.y0, y2: this.y1, class: "ac-gridline" }));
      g.append(svg("text", { x, y: this.y1 + 14, "text-anchor": "middle", class: "ac-tick" }, label));
    }
    for (const [v, label] of s.yticks || []) {
      const y = this.sy(v);
      g.append(svg("line", { x1: this.x0, x2: this.x1, y1: y, y2: y, class: "ac-gridline" }));
      g.append(svg("text", { x: this.x0 - 5, y: y + 4, "text-anchor": "end", class: "ac-tick" }, label));
    }
    g.append(svg("rect", { x: this.x0, y: this.y0, width: this.x1 - this.x0, height: this.y1 - this.y0,
      class: "ac-frame" }));
    if (s.xlabel) {
      g.append(svg("text", { x: (this.x0 + this.x1) / 2, y: this.height - 4, "text-anchor": "middle",
        class: "ac-axlabel" }, s.xlabel));
    }
    if (s.ylabel) {
      const cy = (this.y0 + this.y1) / 2;
      g.append(svg("text", { x: 12, y: cy, transform: `rotate(-90 12 ${cy})`, "text-anchor": "middle",
        class: "ac-axlabel" }, s.ylabel));
    }
    this.title = svg("text", { x: (this.x0 + this.x1) / 2, y: 14, "text-anchor": "middle", class: "ac-charttitle" },
      s.title || "");
    g.append(this.title);
    this.node.append(g);
  }

  path(xs, ys) {
    let d = "";
    let pen = false;
    for (let j = 0; j < xs.length; j++) {
      if (xs[j] === null || ys[j] === null) {
        pen = false;
        continue;
      }
      d += `${pen ? "L" : "M"}${this.sx(xs[j]).toFixed(2)},${this.sy(ys[j]).toFixed(2)}`;
      pen = true;
    }
    return d;
  }

  legend(entries, x, y) {
    const g = svg("g", { class: "ac-legend" });
    entries.forEach(([label, color, kind], j) => {
      const yy = y + j * 14;
      if (kind === "dot") g.append(svg("circle", { cx: x + 5, cy: yy - 4, r: 3.5, fill: color }));
      else if (kind === "band") {
        g.append(svg("rect", { x, y: yy - 9, width: 12, height: 9, fill: color, "fill-opacity": 0.2 }));
      } else {
        g.append(svg("line", { x1: x, x2: x + 12, y1: yy - 4, y2: yy - 4, stroke: color, "stroke-width": 2,
          "stroke-dasharray": kind === "line" ? "none" : kind }));
      }
      g.append(svg("text", { x: x + 16, y: yy, class: "ac-tick" }, label));
    });
    this.node.append(g);
  }
}

class Chart {
  constructor(spec, width) {
    this.spec = spec;
    this.axes = new Axes(spec, width, spec.height || 160);
    this.node = this.axes.node;
    const a = this.axes;
    const clip = `ac-clip-${Math.random().toString(36).slice(2)}`;
    const defs = svg("defs");
    const cp = svg("clipPath", { id: clip });
    cp.append(svg("rect", { x: a.x0, y: a.y0, width: a.x1 - a.x0, height: a.y1 - a.y0 }));
    defs.append(cp);
    this.node.append(defs);
    const plot = svg("g", { "clip-path": `url(#${clip})` });
    for (const ref of spec.references || []) {
      const y = a.sy(ref.y);
      plot.append(svg("line", { x1: a.x0, x2: a.x1, y1: y, y2: y, stroke: ref.color, "stroke-width": 1,
        "stroke-dasharray": ref.dash || "none", class: "ac-reference" }));
    }
    for (const line of spec.lines) {
      if (line.band) {
        const [lo, hi] = line.band;
        const up = a.path(line.x, hi);
        const down = a.path([...line.x].reverse(), [...lo].reverse());
        if (up && down && up.indexOf("M", 1) < 0 && down.indexOf("M", 1) < 0) {
          plot.append(svg("path", { d: `${up}L${down.slice(1)}Z`, fill: line.color, "fill-opacity": 0.2 }));
        }
      }
      plot.append(svg("path", { d: a.path(line.x, line.y), fill: "none", stroke: line.color,
        "stroke-width": line.width, "stroke-dasharray": line.dash || "none" }));
    }
    this.vline = svg("line", { y1: a.y0, y2: a.y1, class: "ac-cursor" });
    this.dot = svg("circle", { r: 4, class: "ac-dot" });
    plot.append(this.vline, this.dot);
    this.node.append(plot);
    if (spec.legend) {
      // one entry per line (with its dash pattern) and reference line; one for the bands
      const entries = spec.lines.map((l) => [l.label, l.color, l.dash || "line"]);
      for (const ref of spec.references || []) if (ref.label) entries.push([ref.label, ref.color, ref.dash || "line"]);
      const banded = spec.lines.find((l) => l.band);
      if (banded) entries.push(["95% CI (bootstrap)", banded.color, "band"]);
      a.legend(entries, a.x0 + 8, a.y1 - 8 - 14 * (entries.length - 1));
    }
    this.marker = spec.lines.find((l) => l.marker) || spec.lines[0];
  }

  draw(i) {
    const a = this.axes;
    const x = this.marker.x[i];
    const y = this.marker.y[i];
    if (x === null || x === undefined) return;
    this.vline.setAttribute("x1", a.sx(x));
    this.vline.setAttribute("x2", a.sx(x));
    const show = y !== null && y !== undefined;
    this.dot.style.display = show ? "" : "none";
    if (show) {
      this.dot.setAttribute("cx", a.sx(x));
      this.dot.setAttribute("cy", a.sy(y));
    }
  }
}

class Scatter {
  constructor(spec, width, height) {
    this.spec = spec;
    const legendWidth = spec.legend.length ? 46 : 0;
    this.axes = new Axes(spec, width, height, legendWidth);
    const a = this.axes;
    this.node = el("div", { class: "ac-scatter" });
    this.node.style.width = `${width}px`;
    this.node.style.height = `${height}px`;
    this.canvas = el("canvas");
    this.canvas.style.left = `${a.x0}px`;
    this.canvas.style.top = `${a.y0}px`;
    this.cw = a.x1 - a.x0;
    this.ch = a.y1 - a.y0;
    this.canvas.style.width = `${this.cw}px`;
    this.canvas.style.height = `${this.ch}px`;
    this.canvas.width = Math.round(this.cw * dpr());
    this.canvas.height = Math.round(this.ch * dpr());
    this.x = floats(spec.x);
    this.y = floats(spec.y);
    this.colors = bytes(spec.colors);
    if (spec.legend.length) {
      a.legend(spec.legend.map(([label, k]) => [label, spec.palette[k], "dot"]), a.x1 + 8, a.y0 + 10);
    }
    this.node.append(this.axes.node, this.canvas);
  }

  draw(i) {
    const s = this.spec;
    const ctx = this.canvas.getContext("2d");
    const r = dpr();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    ctx.globalAlpha = 0.7;
    const [xa, xb] = s.xlim;
    const [ya, yb] = s.ylim;
    const n = s.n;
    const w = this.canvas.width;
    const h = this.canvas.height;
    const rad = 2.2 * r;
    for (let j = 0; j < n; j++) {
      const x = this.x[i * n + j];
      const y = this.y[i * n + j];
      if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
      ctx.fillStyle = s.palette[this.colors[i * n + j]];
      ctx.beginPath();
      ctx.arc(((x - xa) / (xb - xa)) * w, (1 - (y - ya) / (yb - ya)) * h, rad, 0, 2 * Math.PI);
      ctx.fill();
    }
    ctx.globalAlpha = 1;
    this.axes.title.textContent = s.titles[i] || "";
  }
}

// ---------------------------------------------------------------------------- the widget
function option(value, label) {
  const o = el("option", { value, text: label ?? value });
  return o;
}

function controls(model) {
  const play = el("button", { class: "ac-play", title: "Play / pause", type: "button", text: "▶" });
  const slider = el("input", { class: "ac-slider", type: "range", min: 0, step: 1, "aria-label": "snapshot" });
  const label = el("span", { class: "ac-snapshot" });
  const fps = el("select", { class: "ac-fps", title: "frames per second", "aria-label": "frames per second" });
  for (const f of [2, 5, 10, 15, 30]) fps.append(option(f, `${f} fps`));
  const layer = el("select", { class: "ac-layer", "aria-label": "layer" });
  const measure = el("select", { class: "ac-measure", "aria-label": "confidence measure" });
  const groups = el("span", { class: "ac-groups", role: "group", "aria-label": "groups" });
  const status = el("span", { class: "ac-status" });
  const progress = el("progress", { class: "ac-progress", max: 1 });
  const top = el("div", { class: "ac-controls" }, play, slider, label, fps);
  const settings = el("div", { class: "ac-settings" },
    el("label", {}, el("span", { text: "layer" }), layer),
    groups,
    el("label", {}, el("span", { text: "confidence" }), measure),
    progress, status);
  return { play, slider, label, fps, layer, measure, groups, status, progress, top, settings };
}

function fillSelect(select, options, value) {
  const now = [...select.options].map((o) => o.value).join("\u0000");
  if (now !== options.join("\u0000")) select.replaceChildren(...options.map((o) => option(o)));
  select.value = value;
}

function render({ model, el: root }) {
  root.classList.add("actconf-explorer");
  root.setAttribute("data-lm-suppress-shortcuts", "true"); // notebook shortcuts stay outside the widget
  const c = controls(model);
  const mapsRow = el("div", { class: "ac-row" });
  const corrRow = el("div", { class: "ac-row" });
  root.append(c.top, c.settings, mapsRow, corrRow);
  const state = { index: model.get("index"), playing: false, grid: null, charts: [], scatter: null, rho: null,
    rhoChart: null, drawn: 0, syncTimer: 0, raf: 0, last: 0, mapsKey: "", curvesKey: "", corrKey: "" };
  // Scenes seen in this page, by the setting they show (the kernel names it in `setting`): going back
  // to a setting draws at once from here; the kernel's copy, when it arrives with the same key, is skipped.
  const cache = { maps: new Map(), curves: new Map(), corr: new Map() };
  const CACHED_SETTINGS = 12;

  function remember(kind, scene) {
    if (!scene || !scene.key || scene.setting === undefined || scene.remote) return;
    const m = cache[kind];
    m.delete(scene.setting);
    m.set(scene.setting, scene);
    while (m.size > CACHED_SETTINGS) m.delete(m.keys().next().value);
  }

  function showCached() {
    const layer = model.get("layer");
    const measure = model.get("measure");
    const maps = cache.maps.get(`${layer}|${model.get("grouping_value")}|${measure}`);
    const curves = cache.curves.get(measure);
    const corr = cache.corr.get(`${layer}|${measure}`);
    if (model.get("show_maps") && maps && curves) buildMaps(maps, curves);
    if (model.get("show_correlation") && corr) buildCorrelation(corr);
    if ((maps && curves) || corr) {
      root.dataset.drawnFrom = "page"; // what the browser test checks: no kernel round trip
      drawFrame(state.index);
    }
  }

  function n() {
    return model.get("labels").length;
  }

  function drawFrame(i) {
    const t0 = performance.now();
    let ok = true;
    if (state.grid) ok = state.grid.draw(i) && ok;
    for (const chart of state.charts) chart.draw(i);
    if (state.scatter) state.scatter.draw(i);
    if (state.rho) state.rho.draw(i);
    if (state.rhoChart) state.rhoChart.draw(i);
    c.label.textContent = model.get("labels")[i] || "";
    root.dataset.scene = `${state.grid ? state.grid.scene.key : ""}|${state.rho ? state.rho.scene.key : ""}`;
    root.dataset.resolution = String(state.grid ? state.grid.h : state.rho ? state.rho.h : 0);
    if (ok) {
      state.drawn += 1;
      root.dataset.frame = String(i);
      root.dataset.framesDrawn = String(state.drawn);
      root.dataset.drawMs = (performance.now() - t0).toFixed(2);
    }
    return ok;
  }

  function requestRemote(i) {
    if (state.grid && state.grid.remote && !state.grid.frameData(i)) {
      try {
        model.send({ type: "frame", index: i });
      } catch (err) {
        c.status.textContent = "this frame needs the kernel";
      }
    }
  }

  function setIndex(i, { sync = true } = {}) {
    i = Math.max(0, Math.min(n() - 1, i));
    state.index = i;
    if (Number(c.slider.value) !== i) c.slider.value = String(i);
    requestRemote(i);
    drawFrame(i);
    if (sync) {
      clearTimeout(state.syncTimer);
      state.syncTimer = setTimeout(() => {
        if (model.get("index") !== state.index) push(model, { index: state.index });
      }, state.playing ? 1000 : 200);
    }
  }

  function stop() {
    state.playing = false;
    c.play.textContent = "▶";
    cancelAnimationFrame(state.raf);
    setIndex(state.index);
  }

  function tick(t) {
    if (!state.playing) return;
    const interval = 1000 / Number(model.get("fps") || 15);
    if (t - state.last >= interval - 1) {
      // keep the cadence (a late frame does not delay the next ones), never more than one frame behind
      state.last = Math.max(state.last + interval, t - interval);
      if (state.index >= n() - 1) {
        stop();
        return;
      }
      setIndex(state.index + 1);
    }
    state.raf = requestAnimationFrame(tick);
  }

  function start() {
    if (state.index >= n() - 1) setIndex(0);
    state.playing = true;
    c.play.textContent = "❚❚";
    state.last = performance.now();
    state.raf = requestAnimationFrame(tick);
  }

  function width() {
    return Math.max(320, root.clientWidth || root.getBoundingClientRect().width || 900);
  }

  function buildMaps(maps = model.get("scene_maps"), curves = model.get("scene_curves")) {
    state.mapsKey = (maps && maps.key) || "";
    state.curvesKey = (curves && curves.key) || "";
    mapsRow.replaceChildren();
    state.grid = null;
    state.charts = [];
    if (!model.get("show_maps") || !maps || !maps.key) return;
    state.grid = new MapGrid();
    state.grid.setScene(maps);
    const panel = el("div", { class: "ac-panel ac-panel-maps" }, state.grid.node);
    mapsRow.append(panel);
    if (curves && curves.charts) {
      const box = el("div", { class: "ac-panel ac-panel-curves" });
      for (const spec of curves.charts) {
        const chart = new Chart(spec, 300);
        state.charts.push(chart);
        box.append(chart.node);
      }
      mapsRow.append(box);
    }
    state.grid.layout(width(), 330);
  }

  function buildCorrelation(corr = model.get("scene_correlation")) {
    state.corrKey = (corr && corr.key) || "";
    corrRow.replaceChildren();
    state.scatter = state.rho = state.rhoChart = null;
    if (!model.get("show_correlation") || !corr || !corr.key) return;
    state.scatter = new Scatter(corr.scatter, 360, 260);
    state.rho = new MapGrid({ size: 170, notes: false });
    state.rho.setScene(corr.map);
    state.rho.layout(width());
    state.rhoChart = new Chart(corr.chart, 330);
    corrRow.append(el("div", { class: "ac-panel" }, state.scatter.node),
      el("div", { class: "ac-panel" }, state.rho.node),
      el("div", { class: "ac-panel" }, state.rhoChart.node));
  }

  function syncControls() {
    fillSelect(c.layer, model.get("layers"), model.get("layer"));
    fillSelect(c.measure, model.get("measures"), model.get("measure"));
    c.groups.replaceChildren();
    if (model.get("show_maps")) {
      for (const g of model.get("groupings")) {
        const b = el("button", { type: "button", class: "ac-group", text: g, "aria-pressed":
          String(g === model.get("grouping_value")) });
        b.addEventListener("click", () => {
          if (!push(model, { grouping_value: g })) c.status.textContent = "settings need a running kernel";
          syncControls();
          showCached();
        });
        c.groups.append(b);
      }
    }
    c.fps.value = String(model.get("fps"));
    c.slider.max = String(Math.max(0, n() - 1));
    c.slider.value = String(state.index);
  }

  function syncBusy() {
    const busy = model.get("busy");
    root.classList.toggle("ac-busy", busy);
    c.progress.style.visibility = busy ? "visible" : "hidden";
    c.progress.value = model.get("progress");
    c.status.textContent = model.get("status_text");
  }

  // -- events from the page
  c.slider.addEventListener("input", () => setIndex(Number(c.slider.value)));
  // Keys are handled here (the notebook around the widget would take some of them).
  const steps = { ArrowLeft: -1, ArrowDown: -1, ArrowRight: 1, ArrowUp: 1, PageDown: -5, PageUp: 5 };
  c.slider.addEventListener("keydown", (e) => {
    let target = null;
    if (e.key in steps) target = state.index + steps[e.key];
    else if (e.key === "Home") target = 0;
    else if (e.key === "End") target = n() - 1;
    else if (e.key !== " ") return;
    e.preventDefault();
    e.stopPropagation();
    if (target === null) {
      if (state.playing) stop();
      else start();
    } else {
      if (state.playing) stop();
      setIndex(target);
    }
  });
  c.play.addEventListener("click", () => (state.playing ? stop() : start()));
  c.fps.addEventListener("change", () => push(model, { fps: Number(c.fps.value) }));
  for (const [select, trait] of [[c.layer, "layer"], [c.measure, "measure"]]) {
    select.addEventListener("change", () => {
      if (!push(model, { [trait]: select.value })) c.status.textContent = "settings need a running kernel";
      showCached();
    });
  }

  // -- events from the kernel
  const handlers = {
    "change:scene_maps change:scene_curves": () => {
      const maps = model.get("scene_maps");
      const curves = model.get("scene_curves");
      remember("maps", maps);
      remember("curves", curves);
      if (!(maps && curves && maps.key === state.mapsKey && curves.key === state.curvesKey && !maps.remote)) {
        root.dataset.drawnFrom = "kernel";
        buildMaps();
        drawFrame(state.index);
      }
      // painted: the kernel may now compute the correlation views (it waits for this, see _explorer.py)
      if (maps && maps.key) {
        requestAnimationFrame(() => setTimeout(() => model.send({ type: "drawn", key: maps.key }), 0));
      }
    },
    "change:scene_correlation": () => {
      const corr = model.get("scene_correlation");
      remember("corr", corr);
      if (corr && corr.key && corr.key === state.corrKey) return;
      buildCorrelation();
      drawFrame(state.index);
    },
    "change:index": () => {
      if (model.get("index") !== state.index && !state.playing) setIndex(model.get("index"), { sync: false });
    },
    "change:labels": () => {
      Object.values(cache).forEach((m) => m.clear()); // a live run grew: every scene has more frames now
      syncControls();
      setIndex(Math.min(state.index, n() - 1), { sync: false });
    },
    "change:layer change:measure change:grouping_value change:layers change:measures": syncControls,
    "change:busy change:progress change:status_text": syncBusy,
    "msg:custom": (msg, buffers) => {
      if (msg && msg.type === "frame" && state.grid && state.grid.scene.key === msg.key) {
        state.grid.addRemote(msg.index, buffers[0], buffers[1]);
        if (msg.index === state.index) drawFrame(state.index);
      }
    },
  };
  const each = (f) => Object.entries(handlers).forEach(([events, fn]) => events.split(" ").forEach((e) => f(e, fn)));
  each((event, fn) => model.on(event, fn));

  const resize = new ResizeObserver(() => {
    if (state.grid) {
      const before = state.grid.layoutKey;
      state.grid.layout(width(), 330);
      if (state.grid.layoutKey !== before) drawFrame(state.index);
    }
  });
  resize.observe(root);

  const hello = { frontend: true };
  if (Math.abs(model.get("pixel_ratio") - dpr()) > 1e-6) hello.pixel_ratio = dpr();
  if (!model.get("frontend") || hello.pixel_ratio) push(model, hello);
  syncControls();
  syncBusy();
  remember("maps", model.get("scene_maps"));
  remember("curves", model.get("scene_curves"));
  remember("corr", model.get("scene_correlation"));
  buildMaps();
  buildCorrelation();
  drawFrame(state.index);

  return () => {
    state.playing = false;
    cancelAnimationFrame(state.raf);
    clearTimeout(state.syncTimer);
    resize.disconnect();
    each((event, fn) => model.off(event, fn));
  };
}

export default { render };
