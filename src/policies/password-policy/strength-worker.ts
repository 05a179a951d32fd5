/**
 * The worker thread that runs zxcvbn estimates (strength.ts): a strength estimate costs milliseconds of CPU, tens of
 * them for adversarial inputs, and must never stall the gateway's event loop.
 */
import { parentPort } from 'node:worker_threads';
import { ZxcvbnFactory } from '@zxcvbn-ts/core';
import * as common from '@zxcvbn-ts/language-common';
import * as english from '@zxcvbn-ts/language-en';

/** Characters the estimate looks at (zxcvbn is superlinear in length; a longer password is judged on these). */
const ESTIMATE_MAX_CHARS = 64;
/** Cap on l33t substitution variants: the default lets one 32-character string cost 300 ms. */
const L33T_MAX_SUBSTITUTIONS = 8;

const zxcvbn = new ZxcvbnFactory({
  dictionary: { ...common.dictionary, ...english.dictionary },
  graphs: common.adjacencyGraphs,
  translations: english.translations,
  maxLength: ESTIMATE_MAX_CHARS,
  l33tMaxSubstitutions: L33T_MAX_SUBSTITUTIONS,
});

parentPort!.on('message', (message: { id: number; password: string; userInputs: string[] }) => {
  let score = -1;
  try {
    score = zxcvbn.check(message.password, message.userInputs).score;
  } catch {
    // score -1: the estimate failed; the caller fails closed.
  }
  parentPort!.postMessage({ id: message.id, score });
});
