/* Drawing: the canvas shows one image (a decoded preview, or raw values windowed
 * into an offscreen canvas) fitted to the stage, then zoomed, panned, turned and
 * mirrored (measure.js's view, the one the ruler measures in), inverted if asked,
 * with the reading tools' marks over it (overlay.js); and how far it may be panned.
 */

import { canvas, ctx, root, stage } from './page.js';
import { fitScale as fitOriented, orientedSize, viewTransform } from './measure.js';
import { clamp } from './numbers.js';
import { drawOverlay } from './overlay.js';
import { previews } from './resources.js';
import { currentImage, shownLabelOf, state } from './state.js';
import { windowInto } from './windowing.js';

export function fitScale(width, height) {
  return fitOriented(state.orientation, width, height, state.cssWidth, state.cssHeight);
}

function geometry() {
  if (state.shown) return { width: state.shown.width, height: state.shown.height };
  const image = currentImage();
  if (image && image.columns > 0 && image.rows > 0) return { width: image.columns, height: image.rows };
  return null;
}

/** The image on screen as measure.js sees it (size, centre, scale, orientation), or null before there is one. */
export function currentView() {
  const geo = geometry();
  if (!geo) return null;
  return {
    width: geo.width,
    height: geo.height,
    scale: fitScale(geo.width, geo.height) * state.zoom,
    centerX: state.cssWidth / 2 + state.panX,
    centerY: state.cssHeight / 2 + state.panY,
    orientation: state.orientation,
  };
}

export function clampPan() {
  const geo = geometry();
  if (!geo) return;
  const scale = fitScale(geo.width, geo.height) * state.zoom;
  const size = orientedSize(state.orientation, geo.width, geo.height);
  // Keep at least a strip of the image on screen.
  const limitX = Math.max(0, (state.cssWidth + size.width * scale) / 2 - 48);
  const limitY = Math.max(0, (state.cssHeight + size.height * scale) / 2 - 48);
  state.panX = clamp(state.panX, -limitX, limitX);
  state.panY = clamp(state.panY, -limitY, limitY);
}

let paintQueued = 0;

export function paint() {
  if (paintQueued) {
    cancelAnimationFrame(paintQueued);
    paintQueued = 0;
  }
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.fillStyle = '#000';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  const shown = state.shown;
  const view = currentView();
  if (!shown || !view) return;
  const dpr = state.dpr;
  ctx.setTransform(...viewTransform(view).map((value) => value * dpr));
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(shown.el, 0, 0, shown.width, shown.height);
  if (state.inverted) {
    // White minus each grey, on the image alone (ctx.filter is missing in Safari; 'difference' is not).
    ctx.globalCompositeOperation = 'difference';
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, shown.width, shown.height);
    ctx.globalCompositeOperation = 'source-over';
  }
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  drawOverlay(ctx, view, dpr);
}

export function schedulePaint() {
  if (!paintQueued) {
    paintQueued = requestAnimationFrame(() => {
      paintQueued = 0;
      paint();
    });
  }
}

export function resize() {
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

export const rawCanvas = document.createElement('canvas');
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
  windowInto(out, raw, center, width);
  rawCtx.putImageData(rawPixels, 0, 0);
  rawRendered = key;
  return true;
}

export function showPreview(target, value) {
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

export function showRaw(target, raw) {
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

export function clearShown() {
  state.shown = null;
  state.shownLabel = '';
  state.shownTarget = '';
  previews.pinned = null;
  root.dataset.shown = '';
  paint();
}
