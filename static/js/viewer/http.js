/* GET with patience: a render being made answers 503 with Retry-After, and a
 * phone's network drops a request now and then; both are waited out here.
 *
 * No DOM, no state: only fetch and timers.
 */

import { finite } from './numbers.js';

const BUSY_RETRIES = 30;        // 503 + Retry-After while a render is being made
const NETWORK_RETRIES = 2;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export const withQuery = (url, query) => url + (url.indexOf('?') === -1 ? '?' : '&') + query;

export class HttpError extends Error {
  constructor(status) {
    super('HTTP ' + status);
    this.status = status;
  }
}

function retryAfterMs(response) {
  const seconds = parseFloat(response.headers.get('Retry-After') || '');
  return (finite(seconds) && seconds > 0 ? Math.min(seconds, 5) : 1) * 1000;
}

/** GET, waiting out 503 (the render is being made) and brief network failures. */
export async function fetchWithRetry(url, accept) {
  let busy = 0;
  let failures = 0;
  for (;;) {
    let response;
    try {
      response = await fetch(url, { credentials: 'same-origin', headers: accept ? { Accept: accept } : {} });
    } catch (error) {
      failures += 1;
      if (failures > NETWORK_RETRIES) throw error;
      await sleep(1000 * failures);
      continue;
    }
    if (response.status === 503 && busy < BUSY_RETRIES) {
      busy += 1;
      await sleep(retryAfterMs(response));
      continue;
    }
    if (!response.ok) throw new HttpError(response.status);
    return response;
  }
}
