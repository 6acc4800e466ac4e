/* Pointer input on the stage (mouse, touch, pen) and the wheel: one finger or
 * the left button does what the mode says (browse, pan, window, measure with
 * the ruler, read the value under it), the middle
 * button pans and the right one windows; two fingers pinch-zoom; a double tap
 * or double click fits. The wheel changes the slice, or zooms with ctrl (and
 * trackpad pinches, which arrive as ctrl + wheel).
 */

import { clampPan, schedulePaint } from './drawing.js';
import { refreshHud } from './hud.js';
import { step } from './navigation.js';
import { clamp } from './numbers.js';
import { stage } from './page.js';
import { position, state } from './state.js';
import { beginMeasure, cancelMeasure, endMeasure, moveMeasure, probeAt } from './tools.js';
import { beginWindowDrag, endWindowDrag, moveWindowDrag } from './window-drag.js';
import { fit, panBy, zoomAt, ZOOM_MAX, ZOOM_MIN } from './zoom.js';

const STEP_PX = 8;              // finger movement per slice when browsing
const TAP_MS = 350;
const TAP_SLOP_PX = 10;

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
  if (gesture && gesture.kind === 'measure') endMeasure();
}

function onPointerDown(event) {
  if (event.pointerType === 'mouse' && event.button !== 0 && event.button !== 1 && event.button !== 2) return;
  if (event.target instanceof Element && event.target.closest('.viewer-hint-close')) return; // the button takes it
  event.preventDefault();
  if (document.activeElement !== stage) stage.focus({ preventScroll: true });
  try { stage.setPointerCapture(event.pointerId); } catch (ignored) { /* not capturable */ }
  const point = localPoint(event);
  pointers.set(event.pointerId, { x: point.x, y: point.y });

  if (pointers.size === 2) {
    if (gesture && gesture.kind === 'measure') cancelMeasure();
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
  if (kind === 'measure' && !beginMeasure(point.x, point.y)) gesture.kind = 'none';
  if (kind === 'probe' && !probeAt(point.x, point.y)) gesture.kind = 'none';
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
    if (moveWindowDrag(point.x, point.y)) gesture.acted = true;
  } else if (gesture.kind === 'measure') {
    if (moveMeasure(point.x, point.y)) gesture.acted = true;
  } else if (gesture.kind === 'probe') {
    probeAt(point.x, point.y);
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
  if (event.type === 'pointerup' && ended.kind === 'measure') {
    // Where the finger lifted, should its last move have been merged into this event.
    const point = localPoint(event);
    if (moveMeasure(point.x, point.y)) ended.acted = true;
  }
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

/** Listen to the stage's pointers, wheel, double clicks and context menu. */
export function bindPointerInput() {
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
}
