/* The keyboard: arrows, Page Up and Page Down, Home and End change the image;
 * + and - zoom, 0 fits; space plays or pauses. Keys typed into a field, or
 * with a modifier, are left alone.
 */

import { togglePlay } from './cine.js';
import { goTo, step } from './navigation.js';
import { root } from './page.js';
import { positionCount, state } from './state.js';
import { fit, zoomCentre, ZOOM_STEP } from './zoom.js';

const PAGE_STEP = 10;           // PageUp / PageDown

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

/** Listen to the document's keys, and show the stage's focus ring only to keyboard users. */
export function bindKeyboard() {
  document.addEventListener('keydown', onKeyDown);
  // The focus ring of the image area only for keyboard users (it is focused on load).
  document.addEventListener('keydown', () => root.classList.add('viewer-keyboard'), true);
  document.addEventListener('pointerdown', () => root.classList.remove('viewer-keyboard'), true);
}
