/* The reading tools: invert, rotate a quarter turn, mirror and flip (the view's
 * orientation, measure.js); the ruler, dragged from one point to another (or
 * either end of it moved); and the probe, which reads the value under the
 * finger. Points are kept on the image, so zoom, pan, rotation and flips move
 * the marks with it.
 */

import { clampPan, currentView, paint, schedulePaint } from './drawing.js';
import { refreshHud } from './hud.js';
import { flipHorizontal, flipVertical, imageToScreen, rotateClockwise, screenToImage } from './measure.js';
import { clamp } from './numbers.js';
import { NOW } from './resource-cache.js';
import { raws } from './resources.js';
import { currentTarget, rulerShown, state } from './state.js';

const GRAB_PX = 24;       // how near a ruler's end a finger picks it up
const MOVE_PX = 3;        // how far a finger goes before a new ruler replaces the old one

export const ORIENTATIONS = { rotate: rotateClockwise, flipHorizontal, flipVertical };

/** Turn or mirror the view (one of ORIENTATIONS). */
export function reorient(change) {
  state.orientation = change(state.orientation);
  clampPan();
  refreshHud();
  paint();
}

export function toggleInvert() {
  state.inverted = !state.inverted;
  refreshHud();
  paint();
}

/** The reading tools' marks go when their mode does. */
export function leaveReadingModes() {
  state.ruler = null;
  state.probe = null;
}

/** The raw values of the image on screen, wanted by the probe. */
export function requestProbeValues() {
  const target = currentTarget();
  if (target && target.rawUrl && !target.image.colour) raws.request(target.rawUrl, NOW, target.image);
}

let measuring = null; // {end: 'a' | 'b', ruler, grip: {x, y}, x0, y0, moved, previous}

function nearEnd(ruler, view, x, y) {
  for (const end of ['a', 'b']) {
    const p = imageToScreen(view, ruler[end].x, ruler[end].y);
    if (Math.hypot(p.x - x, p.y - y) <= GRAB_PX) return end;
  }
  return null;
}

/** The image point under (x, y) of the stage, kept on the image. */
function pointOnImage(view, x, y) {
  const p = screenToImage(view, x, y);
  return { x: clamp(p.x, 0, view.width), y: clamp(p.y, 0, view.height) };
}

/** A finger down at (x, y) of the stage in ruler mode: picks up an end of the ruler, or starts a new one. */
export function beginMeasure(x, y) {
  const view = currentView();
  if (!view || !state.ready) return false;
  const point = pointOnImage(view, x, y);
  const ruler = rulerShown();
  const end = ruler ? nearEnd(ruler, view, x, y) : null;
  const fresh = { index: state.index, frame: state.frame, a: point, b: point };
  // An end picked up moves with the finger from where it was, not to under the finger.
  const grip = end ? { x: ruler[end].x - point.x, y: ruler[end].y - point.y } : { x: 0, y: 0 };
  const drawn = end ? { ...ruler } : fresh;
  measuring = { end: end || 'b', ruler: drawn, grip, x0: x, y0: y, moved: false, previous: state.ruler };
  return true;
}

/** The finger is at (x, y): true once it has moved enough to draw (the gesture acted). */
export function moveMeasure(x, y) {
  const view = currentView();
  if (!measuring || !view) return false;
  if (!measuring.moved && Math.hypot(x - measuring.x0, y - measuring.y0) < MOVE_PX) return false;
  measuring.moved = true;
  const point = pointOnImage(view, x, y);
  measuring.ruler[measuring.end] = {
    x: clamp(point.x + measuring.grip.x, 0, view.width),
    y: clamp(point.y + measuring.grip.y, 0, view.height),
  };
  state.ruler = { ...measuring.ruler };
  refreshHud();
  schedulePaint();
  return true;
}

/** The finger is up: the ruler stays as drawn (one that never moved leaves the old one as it was). */
export function endMeasure() {
  measuring = null;
}

/** A second finger came (a pinch): the ruler goes back to what it was. */
export function cancelMeasure() {
  if (measuring && measuring.moved) {
    state.ruler = measuring.previous;
    refreshHud();
    schedulePaint();
  }
  measuring = null;
}

/** A finger down or moved at (x, y) in value mode: read there. */
export function probeAt(x, y) {
  const view = currentView();
  if (!view || !state.ready) return false;
  state.probe = screenToImage(view, x, y);
  requestProbeValues();
  refreshHud();
  schedulePaint();
  return true;
}
