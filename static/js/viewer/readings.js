/* What the reading tools read on the image on screen: the ruler's length (mm
 * from the image's Pixel Spacing, else pixels) and the modality value under the
 * finger (HU for CT), as numbers for the test hooks and as text in the page's
 * language. The arithmetic is measure.js's.
 */

import { distance, valueAt, valueUnit } from './measure.js';
import { fmt } from './numbers.js';
import { t } from './page.js';
import { raws } from './resources.js';
import { currentImage, currentTarget, rulerShown, state } from './state.js';

/** Integers as they are; other values to hundredths (a PET's SUV, an MR's scaled floats). */
const showValue = (value) => (Number.isInteger(value) ? String(value) : String(Math.round(value * 100) / 100 + 0));

/** The ruler on this image in ruler mode: {value, unit, label (on the image), text (the readout)}, or null. */
export function rulerReading() {
  const ruler = state.mode === 'measure' ? rulerShown() : null;
  if (!ruler) return null;
  const image = currentImage();
  const { value, unit } = distance(ruler.a, ruler.b, image ? image.pixelSpacing : null);
  const length = fmt(value);
  return { value, unit, label: length + ' ' + unit, text: t(unit === 'mm' ? 'lengthMm' : 'lengthPx', { length }) };
}

/** The value under the probe in value mode: {value (null when none), unit, text}, or null. */
export function probeReading() {
  const target = state.mode === 'probe' && state.probe ? currentTarget() : null;
  if (!target) return null;
  const unit = valueUnit(state.series && state.series.modality);
  const none = (text) => ({ value: null, unit, text });
  if (target.image.colour || !target.rawUrl) return none(t('valueUnavailable'));
  const raw = raws.peek(target.rawUrl);
  if (!raw) return none(raws.state(target.rawUrl) === 'error' ? t('valueUnavailable') : t('loading'));
  const value = valueAt(raw, state.probe.x, state.probe.y);
  if (value === null) return none(t('valueOutside'));
  const shown = showValue(value);
  return { value, unit, text: unit === 'HU' ? t('valueHu', { value: shown }) : t('valuePlain', { value: shown }) };
}
