/* The viewer's state: the series, where the user is in it, the window, the
 * view, what is on screen; and what follows from it (targetFor: the preview
 * and raw values of a slice and frame at the current window).
 *
 * Every module reads and changes this one object; nothing here touches the DOM.
 */

import { withQuery } from './http.js';
import { UPRIGHT } from './measure.js';
import { fmt } from './numbers.js';

export const state = {
  ready: false,
  fatal: false,
  series: null,
  images: [],
  presets: [],
  index: 0,
  frame: 0,
  direction: 1,
  preset: 'file',
  custom: null,        // {center, width} once the user has windowed
  mode: 'browse',
  playing: false,
  fps: 15,
  fpsChosen: false,
  zoom: 1,
  panX: 0,
  panY: 0,
  cssWidth: 0,
  cssHeight: 0,
  dpr: 1,
  shown: null,         // {el, width, height}: what the canvas shows
  shownLabel: '',      // data-shown of it
  shownTarget: '',     // the preview URL naming what it shows (slice, frame, window)
  windowDragging: false,
  infoOpen: false,
  orientation: UPRIGHT, // measure.js: quarter turns and a mirror
  inverted: false,
  ruler: null,         // {index, frame, a, b}: image points on that image, in ruler mode
  probe: null,         // {x, y}: an image point, read on whatever image is shown, in value mode
};

export const currentImage = () => state.images[state.index] || null;
export const presetNamed = (name) => state.presets.find((preset) => preset.name === name) || null;
export const framesOf = (image) => (image ? image.frames : 1);
/** A single multi-frame image: the slider and keys move through its frames. */
export const overFrames = () => state.images.length === 1 && state.images[0].frames > 1;
export const positionCount = () => (overFrames() ? state.images[0].frames : state.images.length);
export const position = () => (overFrames() ? state.frame : state.index);

/** What to show for a slice and frame at the current window. */
export function targetFor(index, frame) {
  const image = state.images[index];
  let center = null;
  let width = null;
  let query = '';
  const custom = state.preset === 'custom' && state.custom !== null;
  if (custom) {
    center = state.custom.center;
    width = state.custom.width;
    query = '&window=' + fmt(center) + ',' + fmt(width);
  } else {
    const preset = presetNamed(state.preset);
    if (preset && preset.name !== 'file') {
      center = preset.center;
      width = preset.width;
      query = '&preset=' + encodeURIComponent(preset.name);
    } else if (image.window) {
      center = image.window[0];
      width = image.window[1];
    } else if (preset && preset.center !== null && preset.width !== null) {
      center = preset.center;
      width = preset.width;
    }
  }
  const previewUrl = withQuery(image.preview, 'frame=' + frame + query);
  const rawUrl = image.raw ? withQuery(image.raw, 'frame=' + frame) : null;
  const rawUsable = rawUrl !== null && !image.colour && center !== null && width !== null && width > 0;
  return { image, index, frame, center, width, custom, previewUrl, rawUrl, rawUsable };
}

/** The ruler, when it was drawn on the image on screen. */
export const rulerShown = () =>
  state.ruler && state.ruler.index === state.index && state.ruler.frame === state.frame ? state.ruler : null;

export const currentTarget = () => (state.ready ? targetFor(state.index, state.frame) : null);
export const shownLabelOf = (target, source) =>
  (target.index + 1) + ':' + target.frame + ':' + source + ':' + fmt(target.center) + ':' + fmt(target.width);
