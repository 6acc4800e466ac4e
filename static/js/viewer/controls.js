/* The controls around the image: the mode buttons (browse, pan, window,
 * ruler, value), zoom and fit, invert, rotate, mirror and flip, image
 * information, play and frames per second, the slider and the presets; the
 * stage's pointers and the keyboard; resizing; and the series strip
 * (thumbnails made on demand, the current series scrolled into view).
 */

import { setFps, togglePlay } from './cine.js';
import { resize, schedulePaint } from './drawing.js';
import { withQuery } from './http.js';
import { refreshHud } from './hud.js';
import { bindKeyboard } from './keyboard.js';
import { goTo } from './navigation.js';
import { finite } from './numbers.js';
import { byId, fpsInput, infoToggle, modeButtons, playButton, presetBar, root, slider, stage } from './page.js';
import { bindPointerInput } from './pointer.js';
import { render } from './render-loop.js';
import { NOW } from './resource-cache.js';
import { raws } from './resources.js';
import { currentTarget, presetNamed, state } from './state.js';
import { leaveReadingModes, ORIENTATIONS, reorient, requestProbeValues, toggleInvert } from './tools.js';
import { fit, zoomCentre, ZOOM_STEP } from './zoom.js';

function setMode(mode) {
  if (!(mode in modeButtons) || mode === state.mode) return;
  state.mode = mode;
  leaveReadingModes();
  if (mode === 'window') {
    // Have the raw values ready before the first drag.
    const target = currentTarget();
    if (target && target.rawUrl && !target.image.colour) raws.request(target.rawUrl, NOW, target.image);
  }
  if (mode === 'probe') requestProbeValues();
  refreshHud();
  schedulePaint();
}

function setPreset(name) {
  if (!presetNamed(name)) return;
  state.preset = name;
  state.custom = null;
  render();
}

export function bindControls() {
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
  on('viewer-invert', toggleInvert);
  on('viewer-rotate', () => reorient(ORIENTATIONS.rotate));
  on('viewer-flip-horizontal', () => reorient(ORIENTATIONS.flipHorizontal));
  on('viewer-flip-vertical', () => reorient(ORIENTATIONS.flipVertical));
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

  bindPointerInput();
  bindKeyboard();

  if (typeof ResizeObserver === 'function') new ResizeObserver(() => resize()).observe(stage);
  window.addEventListener('resize', resize);
  window.addEventListener('orientationchange', resize);
}

/** Series thumbnails may be made on demand (503 at first): try again a few times. */
export function retryThumbnails() {
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

export function scrollSeriesIntoView() {
  const strip = document.querySelector('.viewer-series');
  const current = strip ? strip.querySelector('a[aria-current="page"]') : null;
  if (!strip || !current) return;
  const box = current.getBoundingClientRect();
  const frame = strip.getBoundingClientRect();
  if (box.left >= frame.left && box.right <= frame.right) return; // already in view
  const offset = box.left - frame.left + strip.scrollLeft;
  strip.scrollLeft = Math.max(0, offset - (strip.clientWidth - current.offsetWidth) / 2);
}
