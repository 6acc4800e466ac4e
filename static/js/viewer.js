/* The image viewer of templates/portal/viewer.html.
 *
 * One series at a time: a manifest (JSON) lists its images in anatomical order;
 * each frame is shown from a server render (JPEG) or, for windowing, from the
 * frame's raw modality values windowed here (PS3.3 C.11.2.1.2). No libraries,
 * no inline anything (the CSP forbids it): every string comes translated from
 * the template, every style from viewer.css.
 */
(function () {
  'use strict';

  const root = document.getElementById('viewer');
  if (!root) return;

  // ------------------------------------------------------------ elements, strings

  const byId = (id) => document.getElementById(id);
  const stage = byId('viewer-stage');
  const canvas = byId('viewer-canvas');
  const ctx = canvas ? canvas.getContext('2d') : null;
  const slider = byId('viewer-slider');
  const counter = byId('viewer-counter');
  const cineGroup = byId('viewer-cine');
  const playButton = byId('viewer-play');
  const fpsInput = byId('viewer-fps');
  const infoToggle = byId('viewer-info-toggle');
  const info = byId('viewer-info');
  const lossyNote = byId('viewer-lossy');
  const loadingNote = byId('viewer-loading');
  const messageBox = byId('viewer-message');
  const presetBar = byId('viewer-presets');
  const strings = byId('viewer-strings');
  const modeButtons = {
    browse: byId('viewer-tool-browse'),
    pan: byId('viewer-tool-pan'),
    window: byId('viewer-tool-window'),
  };
  if (!stage || !canvas || !ctx) return;

  const FALLBACK_STRINGS = {
    image: 'Image %(n)s of %(count)s',
    frame: 'Frame %(n)s of %(count)s',
    window: 'Window C %(center)s W %(width)s',
    fileWindow: 'File window',
    customWindow: 'Custom window',
    size: '%(columns)s × %(rows)s pixels',
    zoom: 'Zoom %(zoom)s',
    play: 'Play',
    pause: 'Pause',
    loading: 'Loading…',
    sliderImage: 'Image',
    sliderFrame: 'Frame',
    manifestError: 'The images of this series could not be loaded.',
    empty: 'This series has no images to show.',
    imageError: 'This image could not be loaded.',
    unavailable: 'This image cannot be shown.',
  };

  function t(name, params) {
    let text = (strings && strings.dataset[name]) || FALLBACK_STRINGS[name] || '';
    if (params) {
      text = text.replace(/%\((\w+)\)s/g, (match, key) => (key in params ? String(params[key]) : match));
    }
    return text;
  }

  // ------------------------------------------------------------ constants, helpers

  const PREFETCH_RADIUS = 5;      // previews kept ready either side of the current slice
  const CINE_AHEAD = 10;          // frames fetched ahead while playing
  const STEP_PX = 8;              // finger movement per slice when browsing
  const PAGE_STEP = 10;           // PageUp / PageDown
  const ZOOM_MIN = 0.5;
  const ZOOM_MAX = 20;
  const ZOOM_STEP = 1.25;         // buttons and + / - keys
  const MAX_PREFETCH = 4;         // concurrent background requests
  const BUSY_RETRIES = 30;        // 503 + Retry-After while a render is being made
  const NETWORK_RETRIES = 2;
  const JPEG_DEBOUNCE_MS = 150;   // server windowing while dragging without raw values
  const LOADING_DELAY_MS = 250;
  const TAP_MS = 350;
  const TAP_SLOP_PX = 10;
  const NOW = -1;                 // request priority: the frame on screen, never queued

  const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

  const clamp = (value, low, high) => Math.min(high, Math.max(low, value));
  const finite = (value) => typeof value === 'number' && Number.isFinite(value);
  const toNumber = (value) => {
    const number = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
    return finite(number) ? number : null;
  };
  const round1 = (value) => Math.round(value * 10) / 10 + 0; // + 0: no "-0"
  const fmt = (value) => (finite(value) ? String(round1(value)) : '');
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const withQuery = (url, query) => url + (url.indexOf('?') === -1 ? '?' : '&') + query;

  class HttpError extends Error {
    constructor(status) {
      super('HTTP ' + status);
      this.status = status;
    }
  }

  function retryAfterMs(response) {
    const seconds = parseFloat(response.headers.get('Retry-After') || '');
    return (finite(seconds) && seconds > 0 ? Math.min(seconds, 5) : 1) * 1000;
  }

  /** GET, waiting out 503 (the render is being made) and brief network failures. */
  async function fetchWithRetry(url, accept) {
    let busy = 0;
    let failures = 0;
    for (;;) {
      let response;
      try {
        response = await fetch(url, { credentials: 'same-origin', headers: accept ? { Accept: accept } : {} });
      } catch (error) {
        failures += 1;
        if (failures > NETWORK_RETRIES) throw error;
        await sleep(1000 * failures);
        continue;
      }
      if (response.status === 503 && busy < BUSY_RETRIES) {
        busy += 1;
        await sleep(retryAfterMs(response));
        continue;
      }
      if (!response.ok) throw new HttpError(response.status);
      return response;
    }
  }

  // ------------------------------------------------------------ loading and caching

  /* Two caches (previews, raw values) share one scheduler: the frame on screen
     is fetched at once; neighbours wait in a queue, nearest first, a few at a
     time, and are dropped from the queue when the user has moved on. */

  const scheduler = { queue: [], active: 0 };
  let useTick = 0;

  function pump() {
    scheduler.queue.sort((a, b) => a.priority - b.priority);
    while (scheduler.queue.length && (scheduler.queue[0].priority < 0 || scheduler.active < MAX_PREFETCH)) {
      startLoad(scheduler.queue.shift());
    }
  }

  function startLoad(entry) {
    entry.state = 'loading';
    scheduler.active += 1;
    const cache = entry.cache;
    let promise;
    try {
      promise = Promise.resolve(cache.load(entry.key, entry.arg));
    } catch (error) {
      promise = Promise.reject(error);
    }
    promise
      .then(
        (value) => {
          if (cache.map.get(entry.key) !== entry) {
            if (cache.dispose) cache.dispose(value);
            return;
          }
          entry.state = 'ok';
          entry.value = value;
          entry.used = ++useTick;
          cache.evict();
        },
        (error) => {
          entry.state = 'error';
          entry.error = error;
        }
      )
      .then(() => {
        scheduler.active -= 1;
        pump();
        resourceSettled(entry);
      })
      .catch(reportBug);
  }

  class ResourceCache {
    constructor(load, dispose) {
      this.load = load;
      this.dispose = dispose || null;
      this.map = new Map();
      this.limit = 24;
      this.pinned = null; // the value on screen, never evicted
    }

    /** The loaded value, or null. */
    peek(key) {
      const entry = key ? this.map.get(key) : null;
      if (!entry || entry.state !== 'ok') return null;
      entry.used = ++useTick;
      return entry.value;
    }

    state(key) {
      const entry = key ? this.map.get(key) : null;
      return entry ? entry.state : null;
    }

    request(key, priority, arg) {
      if (!key) return;
      const entry = this.map.get(key);
      if (entry) {
        if (entry.state === 'ok') {
          entry.used = ++useTick;
        } else if (entry.state === 'queued' && priority < entry.priority) {
          entry.priority = priority;
          pump();
        }
        return; // loading, queued or failed (failures are forgotten by prune)
      }
      const fresh = { key, arg, cache: this, state: 'queued', priority, value: null, error: null, used: ++useTick };
      this.map.set(key, fresh);
      scheduler.queue.push(fresh);
      pump();
    }

    /** Forget queued requests and failures that are no longer wanted. */
    prune(keep) {
      scheduler.queue = scheduler.queue.filter((entry) => {
        if (entry.cache !== this || entry.priority < 0 || keep.has(entry.key)) return true;
        this.map.delete(entry.key);
        return false;
      });
      for (const [key, entry] of this.map) {
        if (entry.state === 'error' && !keep.has(key)) this.map.delete(key);
      }
    }

    evict() {
      const loaded = [];
      for (const entry of this.map.values()) if (entry.state === 'ok') loaded.push(entry);
      if (loaded.length <= this.limit) return;
      loaded.sort((a, b) => a.used - b.used);
      let excess = loaded.length - this.limit;
      for (const entry of loaded) {
        if (excess <= 0) break;
        if (entry.value === this.pinned) continue;
        this.map.delete(entry.key);
        if (this.dispose) this.dispose(entry.value);
        excess -= 1;
      }
    }

  }

  function waitForImage(img) {
    return new Promise((resolve, reject) => {
      img.onload = () => resolve();
      img.onerror = () => reject(new Error('the image could not be decoded'));
    });
  }

  /** A server render: fetched (to see 503s), then decoded into an Image. */
  async function loadPreview(url) {
    const response = await fetchWithRetry(url, 'image/*');
    const unavailable = response.headers.get('X-Render-Status') === 'unavailable';
    const blob = await response.blob();
    const objectUrl = URL.createObjectURL(blob);
    const img = new Image();
    const loaded = waitForImage(img);
    img.decoding = 'async';
    img.src = objectUrl;
    try {
      await loaded;
    } catch (error) {
      URL.revokeObjectURL(objectUrl);
      throw error;
    }
    if (typeof img.decode === 'function') {
      try { await img.decode(); } catch (ignored) { /* loaded already: drawImage decodes */ }
    }
    return { el: img, objectUrl, width: img.naturalWidth, height: img.naturalHeight, unavailable };
  }

  function disposePreview(value) {
    if (value && value.objectUrl) URL.revokeObjectURL(value.objectUrl);
  }

  const RAW_TYPES = {
    int16: { Array: Int16Array, getter: 'getInt16', lut: { size: 65536, offset: 32768 } },
    uint16: { Array: Uint16Array, getter: 'getUint16', lut: { size: 65536, offset: 0 } },
    int8: { Array: Int8Array, getter: 'getInt8', lut: { size: 256, offset: 128 } },
    uint8: { Array: Uint8Array, getter: 'getUint8', lut: { size: 256, offset: 0 } },
    int32: { Array: Int32Array, getter: 'getInt32', lut: null },
    uint32: { Array: Uint32Array, getter: 'getUint32', lut: null },
    float32: { Array: Float32Array, getter: 'getFloat32', lut: null },
    float64: { Array: Float64Array, getter: 'getFloat64', lut: null },
  };
  const VOI_FUNCTIONS = ['LINEAR', 'LINEAR_EXACT', 'SIGMOID'];

  /** Raw modality values of one frame: row-major, little-endian, described by headers. */
  async function loadRaw(url, image) {
    const response = await fetchWithRetry(url, 'application/octet-stream');
    const rows = parseInt(response.headers.get('X-Rows') || '', 10) || image.rows;
    const columns = parseInt(response.headers.get('X-Columns') || '', 10) || image.columns;
    const dtype = (response.headers.get('X-Dtype') || 'int16').trim().toLowerCase();
    const invert = (response.headers.get('X-Invert') || '').trim() === '1';
    let voi = (response.headers.get('X-Voi-Function') || 'LINEAR').trim().toUpperCase().replace(/[-\s]/g, '_');
    if (VOI_FUNCTIONS.indexOf(voi) === -1) voi = 'LINEAR';
    const type = RAW_TYPES[dtype];
    if (!type) throw new Error('unsupported raw type ' + dtype);
    if (!(rows > 0 && columns > 0)) throw new Error('raw values without dimensions');
    const buffer = await response.arrayBuffer();
    const count = rows * columns;
    const size = type.Array.BYTES_PER_ELEMENT;
    if (buffer.byteLength < count * size) throw new Error('raw values shorter than rows x columns');
    let data;
    if (LITTLE_ENDIAN || size === 1) {
      data = new type.Array(buffer, 0, count);
    } else {
      data = new type.Array(count);
      const view = new DataView(buffer);
      for (let i = 0; i < count; i++) data[i] = view[type.getter](i * size, true);
    }
    return { data, rows, columns, dtype, invert, voi, range: null };
  }

  const previews = new ResourceCache(loadPreview, disposePreview);
  const raws = new ResourceCache(loadRaw, null);

  // ------------------------------------------------------------ windowing (PS3.3 C.11.2.1.2)

  /** One modality value to an output value 0..255, unrounded. */
  function voiValue(x, center, width, fn) {
    if (fn === 'SIGMOID') return 255 / (1 + Math.exp((-4 * (x - center)) / width));
    if (fn === 'LINEAR_EXACT') {
      if (x <= center - width / 2) return 0;
      if (x > center + width / 2) return 255;
      return ((x - center) / width + 0.5) * 255;
    }
    if (width <= 1) return x <= center - 0.5 ? 0 : 255; // C.11.2.1.2.1: a threshold
    if (x <= center - 0.5 - (width - 1) / 2) return 0;
    if (x > center - 0.5 + (width - 1) / 2) return 255;
    return ((x - (center - 0.5)) / (width - 1) + 0.5) * 255;
  }

  function displayValue(x, center, width, fn, invert) {
    let v = Math.floor(voiValue(x, center, width, fn) + 0.5); // round to nearest
    if (!(v >= 0)) v = 0; // also NaN
    if (v > 255) v = 255;
    return invert ? 255 - v : v;
  }

  const packGrey = LITTLE_ENDIAN
    ? (v) => (0xff000000 | (v << 16) | (v << 8) | v) >>> 0
    : (v) => ((v << 24) | (v << 16) | (v << 8) | 0xff) >>> 0;
  const GREY = new Uint32Array(256);
  for (let v = 0; v < 256; v++) GREY[v] = packGrey(v);

  const lutCache = new Map();

  /** For integer values: a table over every value, as packed RGBA (from a Uint8Array of greys). */
  function windowTable(lut, center, width, fn, invert) {
    const key = lut.size + ':' + lut.offset + ':' + center + ':' + width + ':' + fn + ':' + invert;
    let table = lutCache.get(key);
    if (table) {
      lutCache.delete(key);
      lutCache.set(key, table);
      return table;
    }
    const grey = new Uint8Array(lut.size);
    for (let i = 0; i < lut.size; i++) grey[i] = displayValue(i - lut.offset, center, width, fn, invert);
    table = new Uint32Array(lut.size);
    for (let i = 0; i < lut.size; i++) table[i] = GREY[grey[i]];
    lutCache.set(key, table);
    while (lutCache.size > 6) lutCache.delete(lutCache.keys().next().value);
    return table;
  }

  /** The min-max window the server uses when a file has none. */
  function rangeWindow(raw) {
    if (!raw.range) {
      let low = Infinity;
      let high = -Infinity;
      const data = raw.data;
      for (let i = 0; i < data.length; i++) {
        const v = data[i];
        if (v < low) low = v;
        if (v > high) high = v;
      }
      if (!(low <= high)) { low = 0; high = 255; }
      raw.range = { low, high };
    }
    const { low, high } = raw.range;
    return { center: round1((low + high) / 2 + 0.5), width: round1(Math.max(high - low + 1, 1)) };
  }

  const rawCanvas = document.createElement('canvas');
  const rawCtx = rawCanvas.getContext('2d');
  let rawPixels = null;
  let rawRendered = '';

  /** Window raw values into the offscreen canvas. */
  function renderRaw(raw, rawKey, center, width) {
    const key = rawKey + '|' + center + '|' + width;
    if (key === rawRendered) return true;
    if (!rawCtx) return false;
    if (rawCanvas.width !== raw.columns || rawCanvas.height !== raw.rows) {
      rawCanvas.width = raw.columns;
      rawCanvas.height = raw.rows;
      rawPixels = null;
    }
    if (!rawPixels) rawPixels = rawCtx.createImageData(raw.columns, raw.rows);
    const out = new Uint32Array(rawPixels.data.buffer, rawPixels.data.byteOffset, raw.columns * raw.rows);
    const data = raw.data;
    const n = out.length;
    const lut = RAW_TYPES[raw.dtype].lut;
    if (lut) {
      const table = windowTable(lut, center, width, raw.voi, raw.invert);
      const offset = lut.offset;
      for (let i = 0; i < n; i++) out[i] = table[data[i] + offset];
    } else {
      const fn = raw.voi;
      const invert = raw.invert;
      for (let i = 0; i < n; i++) out[i] = GREY[displayValue(data[i], center, width, fn, invert)];
    }
    rawCtx.putImageData(rawPixels, 0, 0);
    rawRendered = key;
    return true;
  }

  // ------------------------------------------------------------ state

  const state = {
    ready: false,
    fatal: false,
    series: null,
    images: [],
    presets: [],
    index: 0,
    frame: 0,
    direction: 1,
    preset: 'file',
    custom: null,        // {center, width} once the user has windowed
    mode: 'browse',
    playing: false,
    fps: 15,
    fpsChosen: false,
    zoom: 1,
    panX: 0,
    panY: 0,
    cssWidth: 0,
    cssHeight: 0,
    dpr: 1,
    shown: null,         // {el, width, height}: what the canvas shows
    shownLabel: '',      // data-shown of it
    shownTarget: '',     // the preview URL naming what it shows (slice, frame, window)
    windowDragging: false,
    infoOpen: false,
  };

  const currentImage = () => state.images[state.index] || null;
  const presetNamed = (name) => state.presets.find((preset) => preset.name === name) || null;
  const framesOf = (image) => (image ? image.frames : 1);
  /** A single multi-frame image: the slider and keys move through its frames. */
  const overFrames = () => state.images.length === 1 && state.images[0].frames > 1;
  const positionCount = () => (overFrames() ? state.images[0].frames : state.images.length);
  const position = () => (overFrames() ? state.frame : state.index);

  /** What to show for a slice and frame at the current window. */
  function targetFor(index, frame) {
    const image = state.images[index];
    let center = null;
    let width = null;
    let query = '';
    const custom = state.preset === 'custom' && state.custom !== null;
    if (custom) {
      center = state.custom.center;
      width = state.custom.width;
      query = '&window=' + fmt(center) + ',' + fmt(width);
    } else {
      const preset = presetNamed(state.preset);
      if (preset && preset.name !== 'file') {
        center = preset.center;
        width = preset.width;
        query = '&preset=' + encodeURIComponent(preset.name);
      } else if (image.window) {
        center = image.window[0];
        width = image.window[1];
      } else if (preset && preset.center !== null && preset.width !== null) {
        center = preset.center;
        width = preset.width;
      }
    }
    const previewUrl = withQuery(image.preview, 'frame=' + frame + query);
    const rawUrl = image.raw ? withQuery(image.raw, 'frame=' + frame) : null;
    const rawUsable = rawUrl !== null && !image.colour && center !== null && width !== null && width > 0;
    return { image, index, frame, center, width, custom, previewUrl, rawUrl, rawUsable };
  }

  const currentTarget = () => (state.ready ? targetFor(state.index, state.frame) : null);
  const shownLabelOf = (target, source) =>
    (target.index + 1) + ':' + target.frame + ':' + source + ':' + fmt(target.center) + ':' + fmt(target.width);

  // ------------------------------------------------------------ drawing

  function fitScale(width, height) {
    if (!(width > 0 && height > 0 && state.cssWidth > 0 && state.cssHeight > 0)) return 1;
    return Math.min(state.cssWidth / width, state.cssHeight / height);
  }

  function geometry() {
    if (state.shown) return { width: state.shown.width, height: state.shown.height };
    const image = currentImage();
    if (image && image.columns > 0 && image.rows > 0) return { width: image.columns, height: image.rows };
    return null;
  }

  let paintQueued = 0;

  function paint() {
    if (paintQueued) {
      cancelAnimationFrame(paintQueued);
      paintQueued = 0;
    }
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    const shown = state.shown;
    if (!shown) return;
    const scale = fitScale(shown.width, shown.height) * state.zoom * state.dpr;
    ctx.setTransform(
      scale, 0, 0, scale,
      (state.cssWidth / 2 + state.panX) * state.dpr,
      (state.cssHeight / 2 + state.panY) * state.dpr
    );
    ctx.imageSmoothingEnabled = true;
    ctx.imageSmoothingQuality = 'high';
    ctx.drawImage(shown.el, -shown.width / 2, -shown.height / 2, shown.width, shown.height);
    ctx.setTransform(1, 0, 0, 1, 0, 0);
  }

  function schedulePaint() {
    if (!paintQueued) {
      paintQueued = requestAnimationFrame(() => {
        paintQueued = 0;
        paint();
      });
    }
  }

  function resize() {
    const width = stage.clientWidth;
    const height = stage.clientHeight;
    const dpr = clamp(window.devicePixelRatio || 1, 1, 3);
    if (width === state.cssWidth && height === state.cssHeight && dpr === state.dpr) return;
    const geo = geometry();
    if (geo && state.cssWidth > 0 && state.cssHeight > 0 && width > 0 && height > 0) {
      // Keep the same part of the image in view: pan scales with the fit.
      const before = fitScale(geo.width, geo.height);
      state.cssWidth = width;
      state.cssHeight = height;
      const ratio = fitScale(geo.width, geo.height) / before;
      state.panX *= ratio;
      state.panY *= ratio;
    }
    state.cssWidth = width;
    state.cssHeight = height;
    state.dpr = dpr;
    canvas.width = Math.max(1, Math.round(width * dpr));
    canvas.height = Math.max(1, Math.round(height * dpr));
    clampPan();
    paint();
  }

  function showPreview(target, value) {
    const label = shownLabelOf(target, 'jpeg');
    previews.pinned = value;
    if (state.shownLabel === label && state.shown && state.shown.el === value.el) return;
    state.shown = {
      el: value.el,
      width: target.image.columns || value.width,
      height: target.image.rows || value.height,
    };
    paint();
    state.shownLabel = label;
    state.shownTarget = target.previewUrl;
    root.dataset.shown = label;
  }

  function showRaw(target, raw) {
    const label = shownLabelOf(target, 'raw');
    const alreadyShown = state.shownLabel === label && state.shown && state.shown.el === rawCanvas;
    if (!renderRaw(raw, target.rawUrl, target.center, target.width)) return false;
    if (alreadyShown) return true;
    state.shown = { el: rawCanvas, width: raw.columns, height: raw.rows };
    paint();
    state.shownLabel = label;
    state.shownTarget = target.previewUrl;
    root.dataset.shown = label;
    return true;
  }

  function clearShown() {
    state.shown = null;
    state.shownLabel = '';
    state.shownTarget = '';
    previews.pinned = null;
    root.dataset.shown = '';
    paint();
  }

  // ------------------------------------------------------------ messages

  let loadingTimer = 0;

  function setLoading(on) {
    if (loadingTimer) {
      clearTimeout(loadingTimer);
      loadingTimer = 0;
    }
    if (loadingNote) loadingNote.hidden = !on;
  }

  function loadingSoon() {
    if (loadingTimer || (loadingNote && !loadingNote.hidden)) return;
    loadingTimer = setTimeout(() => {
      loadingTimer = 0;
      const target = currentTarget();
      if (loadingNote && target && state.shownTarget !== target.previewUrl) loadingNote.hidden = false;
    }, LOADING_DELAY_MS);
  }

  function setMessage(text) {
    if (!messageBox) return;
    if (messageBox.textContent !== text) messageBox.textContent = text;
    messageBox.hidden = !text;
  }

  function fatal(text) {
    state.fatal = true;
    stopPlaying();
    setLoading(false);
    setMessage(text);
  }

  function reportBug(error) {
    // Never an unhandled exception: say something in the viewer instead.
    setLoading(false);
    if (!state.fatal) setMessage(t('imageError'));
    if (window.console && console.warn) console.warn('viewer:', error);
  }

  // ------------------------------------------------------------ the render loop

  let debounceTimer = 0;

  /** Show the best available pixels for the current slice and window; fetch what is missing. */
  function render() {
    if (!state.ready || state.fatal) {
      updateHud(null);
      return;
    }
    const target = currentTarget();
    updateHud(target);

    const preview = previews.peek(target.previewUrl);
    const raw = target.rawUsable ? raws.peek(target.rawUrl) : null;
    // A custom window prefers the raw values (exact, immediate); presets and the
    // file window prefer the server's render, using raw values only meanwhile.
    const order = target.custom ? [raw && 'raw', preview && 'jpeg'] : [preview && 'jpeg', raw && 'raw'];
    let drawn = false;
    for (const source of order) {
      if (source === 'jpeg') {
        showPreview(target, preview);
        drawn = true;
      } else if (source === 'raw') {
        drawn = showRaw(target, raw);
      }
      if (drawn) break;
    }

    if (target.custom && target.rawUsable && !raw) raws.request(target.rawUrl, NOW, target.image);
    if (debounceTimer) {
      clearTimeout(debounceTimer);
      debounceTimer = 0;
    }
    if (!preview && !(target.custom && raw)) {
      if (target.custom && state.windowDragging) {
        const url = target.previewUrl;
        debounceTimer = setTimeout(() => {
          debounceTimer = 0;
          previews.request(url, NOW);
        }, JPEG_DEBOUNCE_MS);
      } else {
        previews.request(target.previewUrl, NOW);
      }
    }

    if (drawn) {
      setLoading(false);
      setMessage(state.shown && state.shown.el !== rawCanvas && preview && preview.unavailable ? t('unavailable') : '');
    } else {
      const rawState = target.custom && target.rawUsable ? raws.state(target.rawUrl) : null;
      const rawPending = rawState === 'queued' || rawState === 'loading';
      if (previews.state(target.previewUrl) === 'error' && !rawPending) {
        setLoading(false);
        clearShown();
        setMessage(t('imageError'));
      } else {
        setMessage('');
        loadingSoon();
      }
    }
    prefetch(target);
  }

  function neighbours(center, count, direction) {
    const out = [];
    for (let distance = 1; distance <= PREFETCH_RADIUS; distance++) {
      for (const sign of [direction, -direction]) {
        const p = center + sign * distance;
        if (p >= 0 && p < count) out.push(p);
      }
    }
    return out;
  }

  function prefetch(target) {
    const keepPreviews = new Set([target.previewUrl]);
    const keepRaws = new Set(target.rawUrl ? [target.rawUrl] : []);
    if (!state.windowDragging) {
      const wanted = [];
      const frames = framesOf(target.image);
      if (state.playing && frames > 1) {
        for (let k = 1; k <= Math.min(CINE_AHEAD, frames - 1); k++) wanted.push([target.index, (target.frame + k) % frames]);
      } else if (overFrames()) {
        for (const f of neighbours(target.frame, frames, state.direction)) wanted.push([target.index, f]);
      } else {
        for (const i of neighbours(target.index, state.images.length, state.direction)) wanted.push([i, 0]);
      }
      wanted.forEach(([index, frame], order) => {
        const next = targetFor(index, frame);
        if (next.custom && next.rawUsable) {
          if (order >= raws.limit - 1) return; // more would only evict each other
          keepRaws.add(next.rawUrl);
          raws.request(next.rawUrl, order, next.image);
        } else {
          keepPreviews.add(next.previewUrl);
          previews.request(next.previewUrl, order);
        }
      });
    }
    previews.prune(keepPreviews);
    raws.prune(keepRaws);
  }

  function resourceSettled(entry) {
    if (!state.ready || state.fatal) return;
    if (entry.cache === raws && entry.state === 'ok') adoptRawStart(entry);
    render();
  }

  // ------------------------------------------------------------ heads-up display and test hooks

  function setData(name, value) {
    if (root.dataset[name] !== value) root.dataset[name] = value;
  }

  function setText(element, text) {
    if (element && element.textContent !== text) element.textContent = text;
  }

  function zoomText() {
    return String(Math.round(state.zoom * 100) / 100);
  }

  function updateHud(target) {
    setData('mode', state.mode);
    setData('playing', state.playing ? '1' : '0');
    setData('zoom', zoomText());
    setData('preset', state.preset === 'custom' ? 'custom' : state.preset);
    for (const [mode, button] of Object.entries(modeButtons)) {
      if (button) button.setAttribute('aria-pressed', String(mode === state.mode));
    }
    if (presetBar) {
      for (const button of presetBar.querySelectorAll('.preset')) {
        button.setAttribute('aria-pressed', String(button.dataset.preset === state.preset));
      }
    }
    if (playButton) {
      const label = state.playing ? t('pause') : t('play');
      playButton.setAttribute('aria-pressed', String(state.playing));
      playButton.setAttribute('aria-label', label);
      playButton.title = label;
    }
    if (infoToggle) {
      infoToggle.setAttribute('aria-pressed', String(state.infoOpen));
      infoToggle.setAttribute('aria-expanded', String(state.infoOpen));
    }
    if (info) info.hidden = !state.infoOpen;
    if (!target) return;

    const image = target.image;
    const count = state.images.length;
    const frames = framesOf(image);
    setData('index', String(target.index + 1));
    setData('count', String(count));
    setData('frame', String(target.frame));
    setData('frames', String(frames));
    setData('windowCenter', fmt(target.center));
    setData('windowWidth', fmt(target.width));

    const imageText = t('image', { n: target.index + 1, count });
    const frameText = frames > 1 ? t('frame', { n: target.frame + 1, count: frames }) : '';
    if (slider) {
      const total = positionCount();
      const value = String(position() + 1);
      if (slider.max !== String(Math.max(total, 1))) slider.max = String(Math.max(total, 1));
      if (slider.value !== value) slider.value = value;
      slider.disabled = total <= 1;
      slider.setAttribute('aria-label', overFrames() ? t('sliderFrame') : t('sliderImage'));
      slider.setAttribute('aria-valuetext', overFrames() ? frameText : imageText);
    }
    setText(counter, overFrames() ? (target.frame + 1) + ' / ' + frames : (target.index + 1) + ' / ' + count);
    if (cineGroup) cineGroup.hidden = frames <= 1;
    if (lossyNote) lossyNote.hidden = !image.lossy;
    canvas.setAttribute('aria-label', frameText ? imageText + ', ' + frameText : imageText);

    if (info && state.infoOpen) {
      const line = (name) => info.querySelector('[data-info="' + name + '"]');
      if (state.series && state.series.description) setText(line('series'), state.series.description);
      setText(line('image'), imageText);
      setText(line('frame'), frameText);
      let windowText = target.center !== null && target.width !== null
        ? t('window', { center: fmt(target.center), width: fmt(target.width) })
        : t('fileWindow');
      if (target.custom) windowText += ' (' + t('customWindow') + ')';
      setText(line('window'), windowText);
      setText(line('size'), image.columns && image.rows ? t('size', { columns: image.columns, rows: image.rows }) : '');
      setText(line('zoom'), t('zoom', { zoom: Math.round(state.zoom * 100) + '%' }));
    }
  }

  function refreshHud() {
    updateHud(currentTarget());
  }

  // ------------------------------------------------------------ navigation

  function defaultFps(image) {
    const ms = image ? image.frameTimeMs : null;
    return ms ? clamp(Math.round(1000 / ms), 1, 60) : 15;
  }

  function setIndex(index) {
    if (!state.ready) return;
    index = clamp(index, 0, state.images.length - 1);
    if (index === state.index) return;
    state.direction = index > state.index ? 1 : -1;
    state.index = index;
    state.frame = 0;
    const image = currentImage();
    if (state.playing && framesOf(image) <= 1) stopPlaying();
    if (!state.fpsChosen) setFps(defaultFps(image), false);
    render();
  }

  function setFrame(frame) {
    if (!state.ready) return;
    frame = clamp(frame, 0, framesOf(currentImage()) - 1);
    if (frame === state.frame) return;
    state.direction = frame > state.frame ? 1 : -1;
    state.frame = frame;
    render();
  }

  function goTo(p) {
    if (!state.ready) return;
    if (overFrames()) setFrame(p);
    else setIndex(p);
  }

  function step(delta) {
    if (!state.ready || !delta) return;
    goTo(clamp(position() + delta, 0, positionCount() - 1));
  }

  // ------------------------------------------------------------ cine

  let cineRequest = 0;
  let cineLast = 0;

  function setFps(value, chosen) {
    const fps = clamp(Math.round(value), 1, 60);
    if (!finite(fps)) return;
    state.fps = fps;
    if (chosen) state.fpsChosen = true;
    if (fpsInput && document.activeElement !== fpsInput) fpsInput.value = String(fps);
  }

  function frameReady(index, frame) {
    const target = targetFor(index, frame);
    if (previews.peek(target.previewUrl)) return true;
    return target.custom && target.rawUsable && raws.peek(target.rawUrl) !== null;
  }

  function cineTick(now) {
    cineRequest = 0;
    if (!state.playing) return;
    const image = currentImage();
    const frames = framesOf(image);
    if (frames <= 1) {
      stopPlaying();
      return;
    }
    const interval = 1000 / state.fps;
    if (now - cineLast >= interval) {
      const next = (state.frame + 1) % frames;
      if (frameReady(state.index, next)) {
        cineLast = now - cineLast > 2 * interval ? now : cineLast + interval;
        state.direction = 1;
        state.frame = next;
        render();
      }
    }
    cineRequest = requestAnimationFrame(cineTick);
  }

  function play() {
    if (!state.ready || state.playing || framesOf(currentImage()) <= 1) return;
    state.playing = true;
    cineLast = performance.now();
    cineRequest = requestAnimationFrame(cineTick);
    render();
  }

  function stopPlaying() {
    if (cineRequest) cancelAnimationFrame(cineRequest);
    cineRequest = 0;
    if (!state.playing) return;
    state.playing = false;
    refreshHud();
  }

  function togglePlay() {
    if (state.playing) {
      stopPlaying();
      render();
    } else {
      play();
    }
  }

  // ------------------------------------------------------------ zoom and pan

  function clampPan() {
    const geo = geometry();
    if (!geo) return;
    const scale = fitScale(geo.width, geo.height) * state.zoom;
    // Keep at least a strip of the image on screen.
    const limitX = Math.max(0, (state.cssWidth + geo.width * scale) / 2 - 48);
    const limitY = Math.max(0, (state.cssHeight + geo.height * scale) / 2 - 48);
    state.panX = clamp(state.panX, -limitX, limitX);
    state.panY = clamp(state.panY, -limitY, limitY);
  }

  /** Zoom by a factor, keeping the point (x, y) of the stage where it is. */
  function zoomAt(factor, x, y) {
    const zoom = clamp(state.zoom * factor, ZOOM_MIN, ZOOM_MAX);
    const k = zoom / state.zoom;
    if (!finite(k) || k === 1) return;
    const cx = state.cssWidth / 2 + state.panX;
    const cy = state.cssHeight / 2 + state.panY;
    state.panX = x - (x - cx) * k - state.cssWidth / 2;
    state.panY = y - (y - cy) * k - state.cssHeight / 2;
    state.zoom = zoom;
    clampPan();
    refreshHud();
    schedulePaint();
  }

  const zoomCentre = (factor) => zoomAt(factor, state.cssWidth / 2, state.cssHeight / 2);

  function fit() {
    state.zoom = 1;
    state.panX = 0;
    state.panY = 0;
    refreshHud();
    paint();
  }

  function panBy(dx, dy) {
    state.panX += dx;
    state.panY += dy;
    clampPan();
    schedulePaint();
  }

  // ------------------------------------------------------------ windowing by dragging

  let dragWindow = null; // {x0, y0, center, width, sensitivity, provisional, moved}

  function startingWindow(target) {
    if (state.custom && state.preset === 'custom') return { center: state.custom.center, width: state.custom.width, provisional: false };
    if (target.center !== null && target.width !== null) return { center: target.center, width: Math.max(target.width, 1), provisional: false };
    const raw = target.rawUrl ? raws.peek(target.rawUrl) : null;
    if (raw) return Object.assign(rangeWindow(raw), { provisional: false });
    return { center: 127.5, width: 256, provisional: true }; // replaced by the raw range if it comes in time
  }

  function beginWindowDrag(x, y) {
    const target = currentTarget();
    if (!target || target.image.colour) return false;
    if (target.rawUrl) raws.request(target.rawUrl, NOW, target.image);
    const start = startingWindow(target);
    dragWindow = {
      x0: x,
      y0: y,
      center: start.center,
      width: start.width,
      sensitivity: Math.max(start.width, 1) / 200,
      provisional: start.provisional,
      moved: false,
    };
    return true;
  }

  function adoptRawStart(entry) {
    if (!dragWindow || !dragWindow.provisional || dragWindow.moved) return;
    const target = currentTarget();
    if (!target || target.rawUrl !== entry.key) return;
    const start = rangeWindow(entry.value);
    dragWindow.center = start.center;
    dragWindow.width = start.width;
    dragWindow.sensitivity = Math.max(start.width, 1) / 200;
    dragWindow.provisional = false;
  }

  function moveWindowDrag(x, y) {
    if (!dragWindow) return;
    const dx = x - dragWindow.x0;
    const dy = y - dragWindow.y0;
    if (!dragWindow.moved && Math.abs(dx) + Math.abs(dy) < 3) return;
    dragWindow.moved = true;
    state.windowDragging = true;
    if (gesture) gesture.acted = true;
    // Right: wider (less contrast); down: higher centre (darker).
    const width = round1(clamp(dragWindow.width + dx * dragWindow.sensitivity, 1, 999999));
    const center = round1(clamp(dragWindow.center + dy * dragWindow.sensitivity, -999999, 999999));
    if (state.preset === 'custom' && state.custom && state.custom.center === center && state.custom.width === width) return;
    state.preset = 'custom';
    state.custom = { center, width };
    render();
  }

  function endWindowDrag() {
    const wasDragging = state.windowDragging;
    dragWindow = null;
    state.windowDragging = false;
    if (wasDragging) render(); // the server render now, not debounced, and neighbours
  }

  // ------------------------------------------------------------ pointer input

  const pointers = new Map();
  let gesture = null;
  let lastTap = null;

  function localPoint(event) {
    const rect = stage.getBoundingClientRect();
    return { x: event.clientX - rect.left, y: event.clientY - rect.top };
  }

  function twoPointers() {
    const list = Array.from(pointers.values());
    const [a, b] = list;
    return {
      distance: Math.hypot(a.x - b.x, a.y - b.y) || 1,
      mid: { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 },
    };
  }

  function endSingleGesture() {
    if (gesture && gesture.kind === 'window') endWindowDrag();
  }

  function onPointerDown(event) {
    if (event.pointerType === 'mouse' && event.button !== 0 && event.button !== 1 && event.button !== 2) return;
    event.preventDefault();
    if (document.activeElement !== stage) stage.focus({ preventScroll: true });
    try { stage.setPointerCapture(event.pointerId); } catch (ignored) { /* not capturable */ }
    const point = localPoint(event);
    pointers.set(event.pointerId, { x: point.x, y: point.y });

    if (pointers.size === 2) {
      endSingleGesture();
      const { distance, mid } = twoPointers();
      gesture = { kind: 'pinch', distance, mid, zoom: state.zoom, panX: state.panX, panY: state.panY };
      return;
    }
    if (pointers.size > 2) return;

    let kind = state.mode;
    if (event.pointerType === 'mouse') {
      if (event.button === 2) kind = 'window';
      else if (event.button === 1) kind = 'pan';
    }
    gesture = {
      kind,
      id: event.pointerId,
      x0: point.x,
      y0: point.y,
      x: point.x,
      y: point.y,
      t0: event.timeStamp,
      travel: 0,
      steps: 0,
      acted: false,
    };
    if (kind === 'window' && !beginWindowDrag(point.x, point.y)) gesture.kind = 'none';
  }

  function onPointerMove(event) {
    const pointer = pointers.get(event.pointerId);
    if (!pointer || !gesture) return;
    const point = localPoint(event);
    pointer.x = point.x;
    pointer.y = point.y;

    if (gesture.kind === 'pinch') {
      if (pointers.size < 2) return;
      const { distance, mid } = twoPointers();
      const zoom = clamp(gesture.zoom * (distance / gesture.distance), ZOOM_MIN, ZOOM_MAX);
      const k = zoom / gesture.zoom;
      const cx0 = state.cssWidth / 2 + gesture.panX;
      const cy0 = state.cssHeight / 2 + gesture.panY;
      state.zoom = zoom;
      state.panX = mid.x - (gesture.mid.x - cx0) * k - state.cssWidth / 2;
      state.panY = mid.y - (gesture.mid.y - cy0) * k - state.cssHeight / 2;
      clampPan();
      refreshHud();
      schedulePaint();
      return;
    }
    if (event.pointerId !== gesture.id) return;
    const dx = point.x - gesture.x;
    const dy = point.y - gesture.y;
    gesture.x = point.x;
    gesture.y = point.y;
    gesture.travel = Math.max(gesture.travel, Math.hypot(point.x - gesture.x0, point.y - gesture.y0));

    if (gesture.kind === 'browse') {
      // From the displacement since the start (not summed deltas, which drift):
      // up is next, one slice per STEP_PX.
      const travelled = (gesture.y0 - point.y) / STEP_PX;
      const wanted = travelled >= 0 ? Math.floor(travelled + 1e-3) : Math.ceil(travelled - 1e-3);
      const delta = wanted - gesture.steps;
      if (delta) {
        const before = position();
        step(delta);
        const moved = position() - before;
        gesture.steps += moved;
        if (moved) gesture.acted = true;
        // At the first or last slice: rebase, so that turning back responds at once.
        if (moved !== delta) gesture.y0 = point.y + gesture.steps * STEP_PX;
      }
    } else if (gesture.kind === 'pan') {
      panBy(dx, dy);
    } else if (gesture.kind === 'window') {
      moveWindowDrag(point.x, point.y);
    }
  }

  function onPointerEnd(event) {
    if (!pointers.has(event.pointerId)) return;
    pointers.delete(event.pointerId);
    try { if (stage.hasPointerCapture(event.pointerId)) stage.releasePointerCapture(event.pointerId); } catch (ignored) { /* gone */ }
    if (!gesture) return;
    if (gesture.kind === 'pinch') {
      if (pointers.size === 0) gesture = null;
      else gesture = { kind: 'none' }; // until every finger is up
      return;
    }
    if (event.pointerId !== gesture.id && gesture.kind !== 'none') return;
    const ended = gesture;
    endSingleGesture();
    gesture = null;
    const tap = !ended.acted && ended.travel < TAP_SLOP_PX && event.timeStamp - ended.t0 < TAP_MS;
    if (event.type === 'pointerup' && ended.kind !== 'none' && tap) {
      onTap(ended.x0, ended.y0, event.timeStamp);
    }
  }

  function onTap(x, y, time) {
    if (lastTap && time - lastTap.time < TAP_MS && Math.hypot(x - lastTap.x, y - lastTap.y) < 30) {
      lastTap = null;
      fit();
    } else {
      lastTap = { x, y, time };
    }
  }

  let wheelAccumulated = 0;

  function onWheel(event) {
    event.preventDefault();
    let dy = event.deltaY;
    if (event.deltaMode === 1) dy *= 16;
    else if (event.deltaMode === 2) dy *= state.cssHeight || 800;
    if (!dy) return;
    if (event.ctrlKey) {
      // Ctrl + wheel, and trackpad pinches (which arrive as ctrl + wheel).
      const point = localPoint(event);
      zoomAt(Math.exp(-clamp(dy, -100, 100) * 0.004), point.x, point.y);
      return;
    }
    if (event.deltaMode !== 0 || Math.abs(dy) >= 50) {
      // A mouse notch: one slice.
      wheelAccumulated = 0;
      step(dy > 0 ? 1 : -1);
      return;
    }
    // A trackpad: small deltas, one slice per 40 px.
    if (Math.sign(dy) !== Math.sign(wheelAccumulated)) wheelAccumulated = 0;
    wheelAccumulated += dy;
    if (Math.abs(wheelAccumulated) >= 40) {
      step(wheelAccumulated > 0 ? 1 : -1);
      wheelAccumulated = 0;
    }
  }

  // ------------------------------------------------------------ keyboard

  function onKeyDown(event) {
    if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey) return;
    const target = event.target instanceof Element ? event.target : null;
    if (target && target !== document.body && !root.contains(target)) return;
    if (target && target.closest('input, select, textarea, [contenteditable="true"], [contenteditable=""]')) return;
    const onControl = target && target.closest('button, a, summary');
    switch (event.key) {
      case 'ArrowDown':
      case 'ArrowRight':
        step(1);
        break;
      case 'ArrowUp':
      case 'ArrowLeft':
        step(-1);
        break;
      case 'PageDown':
        step(PAGE_STEP);
        break;
      case 'PageUp':
        step(-PAGE_STEP);
        break;
      case 'Home':
        if (state.ready) goTo(0);
        break;
      case 'End':
        if (state.ready) goTo(positionCount() - 1);
        break;
      case '+':
      case '=':
        zoomCentre(ZOOM_STEP);
        break;
      case '-':
      case '_':
        zoomCentre(1 / ZOOM_STEP);
        break;
      case '0':
        fit();
        break;
      case ' ':
      case 'Spacebar':
        if (onControl) return; // space presses the focused button
        togglePlay();
        break;
      default:
        return;
    }
    event.preventDefault();
  }

  // ------------------------------------------------------------ controls

  function setMode(mode) {
    if (!(mode in modeButtons)) return;
    state.mode = mode;
    if (mode === 'window') {
      // Have the raw values ready before the first drag.
      const target = currentTarget();
      if (target && target.rawUrl && !target.image.colour) raws.request(target.rawUrl, NOW, target.image);
    }
    refreshHud();
  }

  function setPreset(name) {
    if (!presetNamed(name)) return;
    state.preset = name;
    state.custom = null;
    render();
  }

  function buildPresetBar() {
    if (!presetBar) return;
    presetBar.textContent = '';
    for (const preset of state.presets) {
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'preset';
      button.dataset.preset = preset.name;
      button.setAttribute('aria-pressed', String(preset.name === state.preset));
      button.textContent = preset.label || preset.name;
      presetBar.appendChild(button);
    }
  }

  function bindControls() {
    for (const [mode, button] of Object.entries(modeButtons)) {
      if (button) button.addEventListener('click', () => setMode(mode));
    }
    const on = (id, handler) => {
      const element = byId(id);
      if (element) element.addEventListener('click', handler);
    };
    on('viewer-zoom-in', () => zoomCentre(ZOOM_STEP));
    on('viewer-zoom-out', () => zoomCentre(1 / ZOOM_STEP));
    on('viewer-fit', fit);
    if (infoToggle) {
      infoToggle.addEventListener('click', () => {
        state.infoOpen = !state.infoOpen;
        refreshHud();
      });
    }
    if (playButton) playButton.addEventListener('click', togglePlay);
    if (fpsInput) {
      fpsInput.addEventListener('input', () => {
        const value = parseInt(fpsInput.value, 10);
        if (finite(value)) setFps(value, true);
      });
      fpsInput.addEventListener('change', () => {
        const value = parseInt(fpsInput.value, 10);
        setFps(finite(value) ? value : state.fps, true);
        fpsInput.value = String(state.fps);
      });
    }
    if (slider) {
      slider.addEventListener('input', () => {
        const value = parseInt(slider.value, 10);
        if (finite(value)) goTo(value - 1);
      });
    }
    if (presetBar) {
      presetBar.addEventListener('click', (event) => {
        const button = event.target instanceof Element ? event.target.closest('.preset') : null;
        if (button) setPreset(button.dataset.preset);
      });
    }

    stage.addEventListener('pointerdown', onPointerDown);
    stage.addEventListener('pointermove', onPointerMove);
    stage.addEventListener('pointerup', onPointerEnd);
    stage.addEventListener('pointercancel', onPointerEnd);
    stage.addEventListener('lostpointercapture', onPointerEnd);
    stage.addEventListener('wheel', onWheel, { passive: false });
    stage.addEventListener('dblclick', (event) => {
      event.preventDefault();
      fit();
    });
    stage.addEventListener('contextmenu', (event) => event.preventDefault());
    document.addEventListener('keydown', onKeyDown);
    // The focus ring of the image area only for keyboard users (it is focused on load).
    document.addEventListener('keydown', () => root.classList.add('viewer-keyboard'), true);
    document.addEventListener('pointerdown', () => root.classList.remove('viewer-keyboard'), true);

    if (typeof ResizeObserver === 'function') new ResizeObserver(() => resize()).observe(stage);
    window.addEventListener('resize', resize);
    window.addEventListener('orientationchange', resize);
  }

  /** Series thumbnails may be made on demand (503 at first): try again a few times. */
  function retryThumbnails() {
    for (const img of document.querySelectorAll('.viewer-series img')) {
      const original = img.getAttribute('src');
      if (!original) continue;
      let tries = 0;
      const retry = () => {
        if (tries >= 8) return;
        tries += 1;
        setTimeout(() => { img.src = withQuery(original, 'retry=' + tries); }, 1000 * tries);
      };
      img.addEventListener('error', retry);
      if (img.complete && img.naturalWidth === 0) retry();
    }
  }

  function scrollSeriesIntoView() {
    const strip = document.querySelector('.viewer-series');
    const current = strip ? strip.querySelector('a[aria-current="page"]') : null;
    if (!strip || !current) return;
    const box = current.getBoundingClientRect();
    const frame = strip.getBoundingClientRect();
    if (box.left >= frame.left && box.right <= frame.right) return; // already in view
    const offset = box.left - frame.left + strip.scrollLeft;
    strip.scrollLeft = Math.max(0, offset - (strip.clientWidth - current.offsetWidth) / 2);
  }

  // ------------------------------------------------------------ the manifest

  function normaliseImage(raw) {
    if (!raw || typeof raw.preview !== 'string' || !raw.preview) return null;
    const windowPair = Array.isArray(raw.window) && raw.window.length >= 2
      ? [toNumber(raw.window[0]), toNumber(raw.window[1])]
      : null;
    const frameTime = toNumber(raw.frame_time_ms);
    return {
      id: raw.id,
      number: raw.number,
      frames: Math.max(1, parseInt(raw.frames, 10) || 1),
      rows: Math.max(0, parseInt(raw.rows, 10) || 0),
      columns: Math.max(0, parseInt(raw.columns, 10) || 0),
      lossy: raw.lossy === true,
      window: windowPair && windowPair[0] !== null && windowPair[1] !== null ? windowPair : null,
      frameTimeMs: frameTime && frameTime > 0 ? frameTime : null,
      colour: raw.colour === true,
      preview: raw.preview,
      raw: typeof raw.raw === 'string' && raw.raw ? raw.raw : null,
    };
  }

  function normalisePreset(raw) {
    if (!raw || typeof raw.name !== 'string' || !raw.name || raw.name === 'custom') return null;
    const center = toNumber(raw.center);
    const width = toNumber(raw.width);
    const known = center !== null && width !== null;
    return { name: raw.name, label: String(raw.label || raw.name), center: known ? center : null, width: known ? width : null };
  }

  async function loadManifest() {
    const url = root.dataset.manifestUrl;
    if (!url) {
      fatal(t('manifestError'));
      return;
    }
    if (loadingNote) loadingNote.hidden = false;
    let manifest;
    try {
      const response = await fetchWithRetry(url, 'application/json');
      manifest = await response.json();
    } catch (error) {
      fatal(t('manifestError'));
      return;
    }
    if (!manifest || !Array.isArray(manifest.images)) {
      fatal(t('manifestError'));
      return;
    }
    const images = manifest.images.map(normaliseImage).filter(Boolean);
    if (!images.length) {
      fatal(t('empty'));
      return;
    }
    state.series = manifest.series || null;
    state.images = images;
    state.presets = (Array.isArray(manifest.presets) ? manifest.presets : []).map(normalisePreset).filter(Boolean);
    state.preset = presetNamed('file') ? 'file' : state.presets.length ? state.presets[0].name : 'file';
    state.index = 0;
    state.frame = 0;

    // Decoded previews take rows x columns x 4 bytes (at most 2048 px a side): keep a budget.
    const biggest = images.reduce((most, image) => Math.max(most, Math.min(image.rows, 2048) * Math.min(image.columns, 2048)), 1);
    previews.limit = clamp(Math.floor(200e6 / (biggest * 4)), 2 * PREFETCH_RADIUS + 2, 80);
    const rawBiggest = images.reduce((most, image) => Math.max(most, image.rows * image.columns), 1);
    raws.limit = clamp(Math.floor(128e6 / (rawBiggest * 4)), 4, 2 * PREFETCH_RADIUS + 2);

    buildPresetBar();
    setFps(defaultFps(images[0]), false);
    state.ready = true;
    resize();
    render();
  }

  // ------------------------------------------------------------ start

  bindControls();
  retryThumbnails();
  scrollSeriesIntoView();
  resize();
  updateHud(null);
  try {
    stage.focus({ preventScroll: true });
  } catch (ignored) { /* old browsers: focus() without options */ }
  loadManifest().catch((error) => {
    fatal(t('manifestError'));
    if (window.console && console.warn) console.warn('viewer:', error);
  });
})();
