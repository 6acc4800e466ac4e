/* Measuring on an image, shared by the patient's and share viewer and a
 * clinicians' reading view: where a point of the screen falls on the image
 * (through fit, zoom, pan, rotation and flips), the distance between two image
 * points (in mm from Pixel Spacing, else in pixels), and the modality value at
 * an image point (from the raw values /raw sends: HU for CT).
 *
 * Pure: no DOM, no state. Image points are in pixels of the stored image, x
 * along a row (columns), y down the columns (rows), pixel (i, j) covering
 * [i, i + 1) x [j, j + 1). Screen points are CSS pixels of the stage.
 */

/** How the image is turned on screen: `quarterTurns` clockwise after a mirror left to right when `flipped`. */
export const UPRIGHT = Object.freeze({ quarterTurns: 0, flipped: false });

const turns = (k) => ((k % 4) + 4) % 4;

/** Turned a quarter clockwise on screen. */
export const rotateClockwise = (o) => ({ quarterTurns: turns(o.quarterTurns + 1), flipped: o.flipped });

/** Mirrored left to right on screen, however it is turned: H R^k F^f = R^-k F^(f+1). */
export const flipHorizontal = (o) => ({ quarterTurns: turns(-o.quarterTurns), flipped: !o.flipped });

/** Mirrored top to bottom on screen: V = R^2 H, so V R^k F^f = R^(2-k) F^(f+1). */
export const flipVertical = (o) => ({ quarterTurns: turns(2 - o.quarterTurns), flipped: !o.flipped });

/** The 2x2 matrix [a, b, c, d] ((x, y) to (a x + b y, c x + d y)) of an orientation, screen y pointing down. */
export function orientationMatrix(o) {
  const mirror = o.flipped ? -1 : 1;
  // A quarter turn clockwise with y down: (x, y) to (-y, x).
  const [cos, sin] = [[1, 0], [0, 1], [-1, 0], [0, -1]][turns(o.quarterTurns)];
  return [cos * mirror, -sin, sin * mirror, cos];
}

/** The size an image of `width` x `height` takes on screen before scaling: swapped when on its side. */
export function orientedSize(o, width, height) {
  return turns(o.quarterTurns) % 2 ? { width: height, height: width } : { width, height };
}

/** The scale that fits an image, as oriented, into a stage (1 when either is empty). */
export function fitScale(o, width, height, stageWidth, stageHeight) {
  const size = orientedSize(o, width, height);
  if (!(size.width > 0 && size.height > 0 && stageWidth > 0 && stageHeight > 0)) return 1;
  return Math.min(stageWidth / size.width, stageHeight / size.height);
}

/**
 * A view: an image of `width` x `height` pixels, its centre at (`centerX`, `centerY`) of the
 * stage, `scale` CSS pixels a pixel, turned by `orientation`. Its affine map, image to screen,
 * as the canvas's [a, b, c, d, e, f] (x' = a x + c y + e, y' = b x + d y + f).
 */
export function viewTransform(view) {
  const [m00, m01, m10, m11] = orientationMatrix(view.orientation);
  const s = view.scale;
  const a = m00 * s;
  const b = m10 * s;
  const c = m01 * s;
  const d = m11 * s;
  const hx = view.width / 2;
  const hy = view.height / 2;
  return [a, b, c, d, view.centerX - a * hx - c * hy, view.centerY - b * hx - d * hy];
}

/** Where the image point (x, y) is on the stage. */
export function imageToScreen(view, x, y) {
  const [a, b, c, d, e, f] = viewTransform(view);
  return { x: a * x + c * y + e, y: b * x + d * y + f };
}

/** Which image point is under the stage point (x, y): the orientation's matrix is orthogonal, its inverse
 * its transpose. */
export function screenToImage(view, x, y) {
  const [m00, m01, m10, m11] = orientationMatrix(view.orientation);
  const u = (x - view.centerX) / view.scale;
  const v = (y - view.centerY) / view.scale;
  return { x: m00 * u + m10 * v + view.width / 2, y: m01 * u + m11 * v + view.height / 2 };
}

/**
 * Pixel Spacing from a manifest's [between rows, between columns] in mm (PS3.3 10.7.1.3),
 * or null when it is missing or not two positive numbers.
 */
export function spacingFrom(value) {
  if (!Array.isArray(value) || value.length !== 2) return null;
  const [row, column] = value.map(Number);
  return row > 0 && column > 0 && Number.isFinite(row) && Number.isFinite(column) ? { row, column } : null;
}

/**
 * The distance between image points `a` and `b`: {value, unit: 'mm'} with Pixel Spacing
 * ({row, column}: x steps cross columns, y steps cross rows), else {value, unit: 'px'}.
 * Where the points are on screen does not matter: rotation, flips and zoom change no length.
 */
export function distance(a, b, spacing) {
  const dx = b.x - a.x;
  const dy = b.y - a.y;
  if (spacing) return { value: Math.hypot(dx * spacing.column, dy * spacing.row), unit: 'mm' };
  return { value: Math.hypot(dx, dy), unit: 'px' };
}

/**
 * The modality value of the pixel under image point (x, y) of a raw frame ({data, rows, columns},
 * row-major), or null outside it.
 */
export function valueAt(raw, x, y) {
  const column = Math.floor(x);
  const row = Math.floor(y);
  if (!raw || !(column >= 0 && column < raw.columns && row >= 0 && row < raw.rows)) return null;
  const value = raw.data[row * raw.columns + column];
  return value === undefined ? null : value;
}

/** What a modality's values are: Hounsfield units for CT (PS3.3 C.11.1.1.2), else no unit. */
export const valueUnit = (modality) => (String(modality || '').toUpperCase() === 'CT' ? 'HU' : '');
