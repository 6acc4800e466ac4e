/* Navigation: moving to a slice, or to a frame of a single multi-frame image,
 * by position (the slider, Home and End) or by steps (swipes, the wheel, keys).
 */

import { setFps, stopPlaying } from './cine.js';
import { clamp } from './numbers.js';
import { render } from './render-loop.js';
import { currentImage, framesOf, overFrames, position, positionCount, state } from './state.js';

/** Frames per second from the image's Frame Time, else 15. */
export function defaultFps(image) {
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

export function goTo(p) {
  if (!state.ready) return;
  if (overFrames()) setFrame(p);
  else setIndex(p);
}

export function step(delta) {
  if (!state.ready || !delta) return;
  goTo(clamp(position() + delta, 0, positionCount() - 1));
}
