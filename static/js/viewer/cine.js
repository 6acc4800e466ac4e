/* Cine: a multi-frame image plays at its frame time (or the chosen frames per
 * second), moving on only when the next frame is ready, so it never shows a
 * blank.
 */

import { refreshHud } from './hud.js';
import { clamp, finite } from './numbers.js';
import { fpsInput } from './page.js';
import { render } from './render-loop.js';
import { previews, raws } from './resources.js';
import { currentImage, framesOf, state, targetFor } from './state.js';

let cineRequest = 0;
let cineLast = 0;

export function setFps(value, chosen) {
  const fps = clamp(Math.round(value), 1, 60);
  if (!finite(fps)) return;
  state.fps = fps;
  if (chosen) state.fpsChosen = true;
  if (fpsInput && document.activeElement !== fpsInput) fpsInput.value = String(fps);
}

function frameReady(index, frame) {
  const target = targetFor(index, frame);
  if (previews.peek(target.previewUrl)) return true;
  return target.custom && target.rawUsable && raws.peek(target.rawUrl) !== null;
}

function cineTick(now) {
  cineRequest = 0;
  if (!state.playing) return;
  const image = currentImage();
  const frames = framesOf(image);
  if (frames <= 1) {
    stopPlaying();
    return;
  }
  const interval = 1000 / state.fps;
  if (now - cineLast >= interval) {
    const next = (state.frame + 1) % frames;
    if (frameReady(state.index, next)) {
      cineLast = now - cineLast > 2 * interval ? now : cineLast + interval;
      state.direction = 1;
      state.frame = next;
      render();
    }
  }
  cineRequest = requestAnimationFrame(cineTick);
}

function play() {
  if (!state.ready || state.playing || framesOf(currentImage()) <= 1) return;
  state.playing = true;
  cineLast = performance.now();
  cineRequest = requestAnimationFrame(cineTick);
  render();
}

export function stopPlaying() {
  if (cineRequest) cancelAnimationFrame(cineRequest);
  cineRequest = 0;
  if (!state.playing) return;
  state.playing = false;
  refreshHud();
}

export function togglePlay() {
  if (state.playing) {
    stopPlaying();
    render();
  } else {
    play();
  }
}
