// Drives the npm `braze-api` client (braze-community/braze-node) against the Braze sandbox.
//
// Usage: node braze_api_driver.js <node_modules dir> <sandbox url> <api key>
// Prints one JSON object: {call name: {ok, status?, message?, errors?, body?}}.
// Every messaging call the client has is made once, with the client's own request shapes,
// plus the error paths (too many recipients, a wrong key).
'use strict';

const path = require('path');

const [modules, url, key] = process.argv.slice(2);
const { Braze } = require(path.join(modules, 'braze-api'));

const braze = new Braze(url, key);
const wrongKey = new Braze(url, 'not-the-key');

const inDays = (days) => new Date(Date.now() + days * 86400e3).toISOString();
const localInDays = (days) => inDays(days).replace(/\.\d+Z$/, '');
const email = { app_id: 'app', subject: 'hi', from: 'a@example.com', body: 'x' };

const results = {};

async function call(name, fn) {
  try {
    results[name] = { ok: true, body: await fn() };
  } catch (err) {
    results[name] = {
      ok: false,
      status: err.status,
      message: err.message,
      errors: err.errors === undefined ? null : err.errors,
    };
  }
  return results[name].body;
}

async function main() {
  const sent = await call('sends.id.create', () =>
    braze.sends.id.create({ campaign_id: 'camp-1', send_id: 'npm-send-1' }),
  );
  await call('campaigns.trigger.send', () =>
    braze.campaigns.trigger.send({
      campaign_id: 'camp-1',
      send_id: sent && sent.send_id,
      trigger_properties: { order: 'o-1' },
      broadcast: false,
      recipients: [
        { external_user_id: 'u1', trigger_properties: { n: 1 } },
        { email: 'u2@example.com', prioritization: ['identified', 'most_recently_updated'] },
        { user_alias: { alias_name: 'n', alias_label: 'l' } },
      ],
    }),
  );
  await call('campaigns.trigger.send.broadcast', () =>
    braze.campaigns.trigger.send({
      campaign_id: 'camp-1',
      broadcast: true,
      audience: { email_subscription_status: { comparison: 'is', value: 'opted_in' } },
    }),
  );
  const cs = await call('campaigns.trigger.schedule.create', () =>
    braze.campaigns.trigger.schedule.create({
      campaign_id: 'camp-1',
      recipients: [{ external_user_id: 'u1' }],
      schedule: { time: inDays(2) },
    }),
  );
  await call('campaigns.trigger.schedule.update', () =>
    braze.campaigns.trigger.schedule.update({
      campaign_id: 'camp-1',
      schedule_id: cs && cs.schedule_id,
      schedule: { time: inDays(3) },
    }),
  );
  await call('campaigns.trigger.schedule.delete', () =>
    braze.campaigns.trigger.schedule.delete({
      campaign_id: 'camp-1',
      schedule_id: cs && cs.schedule_id,
    }),
  );
  await call('canvas.trigger.send', () =>
    braze.canvas.trigger.send({
      canvas_id: 'canvas-1',
      canvas_entry_properties: { shared: true },
      recipients: [{ external_user_id: 'u1', canvas_entry_properties: { n: 1 } }],
    }),
  );
  const ks = await call('canvas.trigger.schedule.create', () =>
    braze.canvas.trigger.schedule.create({
      canvas_id: 'canvas-1',
      broadcast: true,
      schedule: { time: localInDays(2), in_local_time: true },
    }),
  );
  await call('canvas.trigger.schedule.update', () =>
    braze.canvas.trigger.schedule.update({
      canvas_id: 'canvas-1',
      schedule_id: ks && ks.schedule_id,
      schedule: { time: localInDays(4), in_local_time: true },
    }),
  );
  await call('canvas.trigger.schedule.delete', () =>
    braze.canvas.trigger.schedule.delete({
      canvas_id: 'canvas-1',
      schedule_id: ks && ks.schedule_id,
    }),
  );
  await call('messages.send', () =>
    braze.messages.send({
      external_user_ids: ['u1', 'u2'],
      messages: { email },
    }),
  );
  await call('messages.send.segment', () =>
    braze.messages.send({
      segment_id: 'seg-1',
      broadcast: true,
      campaign_id: 'camp-1',
      messages: { email: { ...email, message_variation_id: 'v1' } },
    }),
  );
  const ms = await call('messages.schedule.create', () =>
    braze.messages.schedule.create({
      external_user_ids: ['u1'],
      override_messaging_limits: false,
      messages: { email },
      schedule: { time: inDays(2) },
    }),
  );
  await call('messages.schedule.update', () =>
    braze.messages.schedule.update({
      schedule_id: ms && ms.schedule_id,
      schedule: { time: inDays(5) },
      messages: { email: { ...email, subject: 'new' } },
    }),
  );
  await call('messages.scheduled_broadcasts', () =>
    braze.messages.scheduled_broadcasts({ end_time: inDays(30) }),
  );
  await call('messages.schedule.delete', () =>
    braze.messages.schedule.delete({ schedule_id: ms && ms.schedule_id }),
  );
  // error paths
  await call('error.too_many_recipients', () =>
    braze.campaigns.trigger.send({
      campaign_id: 'camp-1',
      recipients: Array.from({ length: 51 }, (_, i) => ({ external_user_id: `u${i}` })),
    }),
  );
  await call('error.no_broadcast_flag', () =>
    braze.campaigns.trigger.send({
      campaign_id: 'camp-1',
      audience: { email_subscription_status: { comparison: 'is', value: 'opted_in' } },
    }),
  );
  await call('error.wrong_key', () =>
    wrongKey.messages.send({ external_user_ids: ['u1'], messages: { email } }),
  );
  process.stdout.write(JSON.stringify(results) + '\n');
}

main().catch((err) => {
  process.stderr.write(String((err && err.stack) || err) + '\n');
  process.exit(1);
});
