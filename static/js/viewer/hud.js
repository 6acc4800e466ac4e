/* The heads-up display and the test hooks: the controls' pressed states, the
 * slider and counter, the image information, the lossy notice, the preset
 * buttons, the reading tools' readout; and the data-* attributes of #viewer
 * (index, count, frame, frames, window-center, window-width, preset, mode,
 * playing, zoom, rotation, flipped, inverted, ruler and ruler-unit, probe and
 * probe-unit) that the browser tests read, beside data-shown (drawing.js).
 */

import {
  canvas,
  cineGroup,
  counter,
  info,
  infoToggle,
  invertButton,
  lossyNote,
  modeButtons,
  playButton,
  presetBar,
  probeLabel,
  readout,
  root,
  slider,
  t,
} from './page.js';
import { valueUnit } from './measure.js';
import { fmt } from './numbers.js';
import { probeReading, rulerReading } from './readings.js';
import { currentTarget, framesOf, overFrames, position, positionCount, state } from './state.js';

function setData(name, value) {
  if (root.dataset[name] !== value) root.dataset[name] = value;
}

function setText(element, text) {
  if (element && element.textContent !== text) element.textContent = text;
}

function zoomText() {
  return String(Math.round(state.zoom * 100) / 100);
}

export function updateHud(target) {
  setData('mode', state.mode);
  setData('playing', state.playing ? '1' : '0');
  setData('zoom', zoomText());
  setData('preset', state.preset === 'custom' ? 'custom' : state.preset);
  for (const [mode, button] of Object.entries(modeButtons)) {
    if (button) button.setAttribute('aria-pressed', String(mode === state.mode));
  }
  if (presetBar) {
    for (const button of presetBar.querySelectorAll('.preset')) {
      button.setAttribute('aria-pressed', String(button.dataset.preset === state.preset));
    }
  }
  if (playButton) {
    const label = state.playing ? t('pause') : t('play');
    playButton.setAttribute('aria-pressed', String(state.playing));
    playButton.setAttribute('aria-label', label);
    playButton.title = label;
  }
  if (infoToggle) {
    infoToggle.setAttribute('aria-pressed', String(state.infoOpen));
    infoToggle.setAttribute('aria-expanded', String(state.infoOpen));
  }
  if (info) info.hidden = !state.infoOpen;
  updateReadingTools();
  if (!target) return;

  const image = target.image;
  const count = state.images.length;
  const frames = framesOf(image);
  setData('index', String(target.index + 1));
  setData('count', String(count));
  setData('frame', String(target.frame));
  setData('frames', String(frames));
  setData('windowCenter', fmt(target.center));
  setData('windowWidth', fmt(target.width));

  const imageText = t('image', { n: target.index + 1, count });
  const frameText = frames > 1 ? t('frame', { n: target.frame + 1, count: frames }) : '';
  if (slider) {
    const total = positionCount();
    const value = String(position() + 1);
    if (slider.max !== String(Math.max(total, 1))) slider.max = String(Math.max(total, 1));
    if (slider.value !== value) slider.value = value;
    slider.disabled = total <= 1;
    slider.setAttribute('aria-label', overFrames() ? t('sliderFrame') : t('sliderImage'));
    slider.setAttribute('aria-valuetext', overFrames() ? frameText : imageText);
  }
  setText(counter, overFrames() ? (target.frame + 1) + ' / ' + frames : (target.index + 1) + ' / ' + count);
  if (cineGroup) cineGroup.hidden = frames <= 1;
  if (lossyNote) lossyNote.hidden = !image.lossy;
  canvas.setAttribute('aria-label', frameText ? t('imageAndFrame', { image: imageText, frame: frameText }) : imageText);

  if (info && state.infoOpen) {
    const line = (name) => info.querySelector('[data-info="' + name + '"]');
    if (state.series && state.series.description) setText(line('series'), state.series.description);
    setText(line('image'), imageText);
    setText(line('frame'), frameText);
    let windowText = target.center !== null && target.width !== null
      ? t('window', { center: fmt(target.center), width: fmt(target.width) })
      : t('fileWindow');
    if (target.custom) windowText += ' (' + t('customWindow') + ')';
    setText(line('window'), windowText);
    setText(line('size'), image.columns && image.rows ? t('size', { columns: image.columns, rows: image.rows }) : '');
    setText(line('zoom'), t('zoom', { zoom: Math.round(state.zoom * 100) + '%' }));
  }
}

/** The view's orientation and inversion, the ruler's length and the probe's value: hooks and readout. */
function updateReadingTools() {
  setData('rotation', String(state.orientation.quarterTurns * 90));
  setData('flipped', state.orientation.flipped ? '1' : '0');
  setData('inverted', state.inverted ? '1' : '0');
  if (invertButton) invertButton.setAttribute('aria-pressed', String(state.inverted));
  const modality = state.series ? state.series.modality : '';
  setText(probeLabel, valueUnit(modality) === 'HU' ? t('probeLabelCt') : t('probeLabel'));
  const ruler = rulerReading();
  const probe = probeReading();
  setData('ruler', ruler ? String(Math.round(ruler.value * 1000) / 1000) : '');
  setData('rulerUnit', ruler ? ruler.unit : '');
  setData('probe', probe && probe.value !== null ? String(probe.value) : '');
  setData('probeUnit', probe && probe.value !== null ? probe.unit : '');
  if (readout) {
    const text = ruler ? ruler.text : probe ? probe.text : '';
    setText(readout, text);
    readout.hidden = !text;
  }
}

export function refreshHud() {
  updateHud(currentTarget());
}

/** One button per preset of the series, in the manifest's order. */
export function buildPresetBar() {
  if (!presetBar) return;
  presetBar.textContent = '';
  for (const preset of state.presets) {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'preset';
    button.dataset.preset = preset.name;
    button.setAttribute('aria-pressed', String(preset.name === state.preset));
    button.textContent = preset.label || preset.name;
    presetBar.appendChild(button);
  }
}
