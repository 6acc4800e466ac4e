/* The image viewer of templates/exams/viewer.html: the entry module, which
 * wires the others together and starts.
 *
 * One series at a time: a manifest (JSON, manifest.js) lists its images in
 * anatomical order; each frame is shown from a server render (JPEG) or, for
 * windowing, from the frame's raw modality values windowed here (PS3.3
 * C.11.2.1.2, windowing.js). No libraries, no build step, no inline anything
 * (the CSP forbids it): every string comes translated from the template
 * (page.js), every style from viewer.css.
 *
 * Modules, each with one concern (see its header): page, numbers, http,
 * resource-cache, windowing, measure, resources, state, readings, overlay,
 * drawing, messages, hud, render-loop, cine, navigation, zoom, window-drag,
 * tools, pointer, keyboard, controls, manifest, hint. Their imports form no
 * cycle: in production collectstatic (portal/staticfiles.py) names each
 * module by a hash of its content, imports included, and cannot hash a cycle.
 * What a module needs from one above it is passed down from here (the
 * scheduler's onSettled, onError).
 */

import { bindControls, retryThumbnails, scrollSeriesIntoView } from './controls.js';
import { resize } from './drawing.js';
import { showHintOnce } from './hint.js';
import { updateHud } from './hud.js';
import { fatal, loadManifest } from './manifest.js';
import { reportBug } from './messages.js';
import { canvas, ctx, root, stage, t } from './page.js';
import { render } from './render-loop.js';
import { raws, scheduler } from './resources.js';
import { state } from './state.js';
import { adoptRawStart } from './window-drag.js';

/** A load has settled (loaded or failed): a drag may adopt raw values, and the screen catches up. */
function resourceSettled(entry) {
  if (!state.ready || state.fatal) return;
  if (entry.cache === raws && entry.state === 'ok') adoptRawStart(entry);
  render();
}

function start() {
  scheduler.onSettled = resourceSettled;
  scheduler.onError = reportBug;
  bindControls();
  retryThumbnails();
  scrollSeriesIntoView();
  resize();
  updateHud(null);
  showHintOnce();
  try {
    stage.focus({ preventScroll: true });
  } catch (ignored) { /* old browsers: focus() without options */ }
  loadManifest().catch((error) => {
    fatal(t('manifestError'));
    if (window.console && console.warn) console.warn('viewer:', error);
  });
}

if (root && stage && canvas && ctx) start();
