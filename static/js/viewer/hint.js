/* The first-use hint: how the gestures go, shown over the image the first time
 * the viewer opens in this browser (remembered in localStorage; where storage
 * is refused it shows each time), until "Got it" or the first touch of the image.
 */

import { byId, hint, stage, t } from './page.js';

const SEEN_KEY = 'efilm-viewer-hint-seen';

function seen() {
  try {
    return window.localStorage.getItem(SEEN_KEY) === '1';
  } catch (ignored) {
    return false; // storage refused (a private window): show it
  }
}

function remember() {
  try {
    window.localStorage.setItem(SEEN_KEY, '1');
  } catch (ignored) { /* storage refused: it shows again next time */ }
}

/** Show the hint unless this browser has seen it; it goes at "Got it" or at the first touch of the image. */
export function showHintOnce() {
  const text = byId('viewer-hint-text');
  const close = byId('viewer-hint-close');
  if (!hint || !text || !close || seen()) return;
  const touch = typeof window.matchMedia === 'function' && window.matchMedia('(pointer: coarse)').matches;
  text.textContent = t(touch ? 'hintTouch' : 'hintPointer');
  hint.hidden = false;
  remember();
  const onStage = (event) => {
    if (!(event.target instanceof Element && event.target.closest('.viewer-hint'))) dismiss();
  };
  const dismiss = () => {
    hint.hidden = true;
    stage.removeEventListener('pointerdown', onStage, true);
    if (document.activeElement === close) stage.focus({ preventScroll: true });
  };
  close.addEventListener('click', dismiss);
  stage.addEventListener('pointerdown', onStage, true);
}
