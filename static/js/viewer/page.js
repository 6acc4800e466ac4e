/* The viewer page's elements (templates/exams/viewer.html) and its strings.
 *
 * Every string the viewer shows comes translated from the data-* attributes of
 * #viewer-strings; the English here stands in only for one the page lacks.
 */

export const byId = (id) => document.getElementById(id);

export const root = byId('viewer');
export const stage = byId('viewer-stage');
export const canvas = byId('viewer-canvas');
export const ctx = canvas ? canvas.getContext('2d') : null;
export const slider = byId('viewer-slider');
export const counter = byId('viewer-counter');
export const cineGroup = byId('viewer-cine');
export const playButton = byId('viewer-play');
export const fpsInput = byId('viewer-fps');
export const infoToggle = byId('viewer-info-toggle');
export const info = byId('viewer-info');
export const lossyNote = byId('viewer-lossy');
export const loadingNote = byId('viewer-loading');
export const messageBox = byId('viewer-message');
export const presetBar = byId('viewer-presets');
export const readout = byId('viewer-readout');
export const invertButton = byId('viewer-invert');
export const probeLabel = byId('viewer-probe-label');
export const hint = byId('viewer-hint');
const strings = byId('viewer-strings');
export const modeButtons = {
  browse: byId('viewer-tool-browse'),
  pan: byId('viewer-tool-pan'),
  window: byId('viewer-tool-window'),
  measure: byId('viewer-tool-measure'),
  probe: byId('viewer-tool-probe'),
};

const FALLBACK_STRINGS = {
  image: 'Image %(n)s of %(count)s',
  frame: 'Frame %(n)s of %(count)s',
  imageAndFrame: '%(image)s, %(frame)s',
  window: 'Window C %(center)s W %(width)s',
  fileWindow: 'File window',
  customWindow: 'Custom window',
  size: '%(columns)s × %(rows)s pixels',
  zoom: 'Zoom %(zoom)s',
  play: 'Play',
  pause: 'Pause',
  loading: 'Loading…',
  sliderImage: 'Image',
  sliderFrame: 'Frame',
  manifestError: 'The images of this series could not be loaded.',
  empty: 'This series has no images to show.',
  imageError: 'This image could not be loaded.',
  unavailable: 'This image cannot be shown.',
  lengthMm: '%(length)s mm',
  lengthPx: '%(length)s px (no pixel size in mm for this image)',
  valueHu: '%(value)s HU',
  valuePlain: 'Value %(value)s',
  valueOutside: 'Outside the image',
  valueUnavailable: 'This image has no values to read.',
  probeLabel: 'Value',
  probeLabelCt: 'CT value',
  hintTouch: 'Swipe up or down to change the image. Pinch to zoom, double-tap to fit.',
  hintPointer: 'Drag up or down or turn the wheel to change the image; Ctrl and the wheel zoom.',
};

/** The translated string `name`, with %(key)s replaced from `params`. */
export function t(name, params) {
  let text = (strings && strings.dataset[name]) || FALLBACK_STRINGS[name] || '';
  if (params) {
    text = text.replace(/%\((\w+)\)s/g, (match, key) => (key in params ? String(params[key]) : match));
  }
  return text;
}
