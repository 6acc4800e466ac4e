/* What the viewer says over the image: "Loading…" (only when a wait is felt)
 * and messages (an image that cannot be loaded or shown). Never an unhandled
 * exception: a bug says so in the viewer.
 */

import { loadingNote, messageBox, t } from './page.js';
import { currentTarget, state } from './state.js';

const LOADING_DELAY_MS = 250;

let loadingTimer = 0;

export function setLoading(on) {
  if (loadingTimer) {
    clearTimeout(loadingTimer);
    loadingTimer = 0;
  }
  if (loadingNote) loadingNote.hidden = !on;
}

export function loadingSoon() {
  if (loadingTimer || (loadingNote && !loadingNote.hidden)) return;
  loadingTimer = setTimeout(() => {
    loadingTimer = 0;
    const target = currentTarget();
    if (loadingNote && target && state.shownTarget !== target.previewUrl) loadingNote.hidden = false;
  }, LOADING_DELAY_MS);
}

export function setMessage(text) {
  if (!messageBox) return;
  if (messageBox.textContent !== text) messageBox.textContent = text;
  messageBox.hidden = !text;
}

export function reportBug(error) {
  // Never an unhandled exception: say something in the viewer instead.
  setLoading(false);
  if (!state.fatal) setMessage(t('imageError'));
  if (window.console && console.warn) console.warn('viewer:', error);
}
