/* Small number helpers of the viewer: clamping, checking, parsing and showing numbers.
 *
 * Pure: no DOM, no state.
 */

export const clamp = (value, low, high) => Math.min(high, Math.max(low, value));
export const finite = (value) => typeof value === 'number' && Number.isFinite(value);
export const toNumber = (value) => {
  const number = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  return finite(number) ? number : null;
};
export const round1 = (value) => Math.round(value * 10) / 10 + 0; // + 0: no "-0"
export const fmt = (value) => (finite(value) ? String(round1(value)) : '');
