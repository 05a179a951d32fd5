import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GATEWAY_NODE_FLAGS, missingGatewayFlags } from './node-flags.ts';

test('the gateway flags are added unless the operator set them (command line or NODE_OPTIONS, either spelling) or opted out', () => {
  assert.deepEqual(missingGatewayFlags([], {}), GATEWAY_NODE_FLAGS);
  assert.deepEqual(missingGatewayFlags(['--cpu-prof'], { NODE_OPTIONS: '--enable-source-maps' }), GATEWAY_NODE_FLAGS);
  assert.deepEqual(missingGatewayFlags(['--max-semi-space-size=32'], {}), []);
  assert.deepEqual(missingGatewayFlags([], { NODE_OPTIONS: '--trace-warnings  --max_semi_space_size=64' }), []);
  assert.deepEqual(missingGatewayFlags([], { RAMPART_NODE_FLAGS: 'off' }), []);
  assert.deepEqual(missingGatewayFlags([], { RAMPART_GATEWAY_FLAGS_APPLIED: '1' }), [], 'a re-executed process never re-executes again');
});
