/* The reading tools' marks over the image: the ruler (a line between its two
 * image points, their handles and its length) and the probe's cross, placed
 * through measure.js's view so they stay on the same pixels when the image is
 * zoomed, panned, turned or mirrored.
 */

import { imageToScreen } from './measure.js';
import { rulerReading } from './readings.js';
import { rulerShown, state } from './state.js';

const MARK = '#ffd400';
const OUTLINE = 'rgba(0, 0, 0, .75)';

function stroke(ctx, path, width) {
  ctx.strokeStyle = OUTLINE;
  ctx.lineWidth = width + 2;
  ctx.stroke(path);
  ctx.strokeStyle = MARK;
  ctx.lineWidth = width;
  ctx.stroke(path);
}

function drawRuler(ctx, view, dpr) {
  const ruler = rulerShown();
  const reading = rulerReading();
  if (!ruler || !reading) return;
  const a = imageToScreen(view, ruler.a.x, ruler.a.y);
  const b = imageToScreen(view, ruler.b.x, ruler.b.y);
  const line = new Path2D();
  line.moveTo(a.x * dpr, a.y * dpr);
  line.lineTo(b.x * dpr, b.y * dpr);
  stroke(ctx, line, 2 * dpr);
  const ends = new Path2D();
  for (const p of [a, b]) {
    ends.moveTo((p.x + 6) * dpr, p.y * dpr);
    ends.arc(p.x * dpr, p.y * dpr, 6 * dpr, 0, 2 * Math.PI);
  }
  stroke(ctx, ends, 1.5 * dpr);
  // The length beside the middle, on the side away from the line's slope.
  ctx.font = `600 ${14 * dpr}px system-ui, sans-serif`;
  ctx.textBaseline = 'bottom';
  ctx.lineJoin = 'round';
  const x = ((a.x + b.x) / 2 + 8) * dpr;
  const y = ((a.y + b.y) / 2 - 8) * dpr;
  ctx.lineWidth = 3 * dpr;
  ctx.strokeStyle = OUTLINE;
  ctx.strokeText(reading.label, x, y);
  ctx.fillStyle = MARK;
  ctx.fillText(reading.label, x, y);
}

function drawProbe(ctx, view, dpr) {
  if (state.mode !== 'probe' || !state.probe) return;
  const p = imageToScreen(view, state.probe.x, state.probe.y);
  const cross = new Path2D();
  for (const [dx, dy] of [[1, 0], [-1, 0], [0, 1], [0, -1]]) {
    cross.moveTo((p.x + dx * 4) * dpr, (p.y + dy * 4) * dpr);
    cross.lineTo((p.x + dx * 14) * dpr, (p.y + dy * 14) * dpr);
  }
  stroke(ctx, cross, 2 * dpr);
}

/** Draw the marks; the canvas's transform is the identity (device pixels). */
export function drawOverlay(ctx, view, dpr) {
  drawRuler(ctx, view, dpr);
  drawProbe(ctx, view, dpr);
}
