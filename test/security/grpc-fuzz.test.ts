/**
 * Seeded fuzzing of every public gRPC service: random bytes, truncated and bit-flipped
 * valid requests, and oversized ones, sent raw to every method. Every reply must be a
 * precise status (never INTERNAL or UNKNOWN), and the server must keep answering.
 * A failure prints the seed and the case.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { create, toBinary, type DescService } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { clientConstructor } from "../../src/runtime/grpc/service.js";
import { Random } from "../../src/runtime/random.js";
import { credentialChannelOptions } from "../../src/security/auth/client-credential.js";
import { DEFAULT_MAX_REQUEST_BYTES } from "../../src/security/auth/grpc-guard.js";
import { CREDENTIALS, services, startSecuredMaster, type SecuredMaster } from "./secured-master.js";
import { testSeed } from "../support/seed.js";

const SEED = testSeed(11);
const CASES_PER_METHOD = 25;
const PRECISE = new Set([
  grpc.status.OK,
  grpc.status.INVALID_ARGUMENT,
  grpc.status.NOT_FOUND,
  grpc.status.FAILED_PRECONDITION,
  grpc.status.OUT_OF_RANGE,
  grpc.status.PERMISSION_DENIED,
  grpc.status.UNAUTHENTICATED,
  grpc.status.RESOURCE_EXHAUSTED,
  grpc.status.UNIMPLEMENTED,
  grpc.status.UNAVAILABLE,
  grpc.status.ALREADY_EXISTS,
]);

let m: SecuredMaster;
before(async () => {
  m = await startSecuredMaster();
});
after(async () => {
  await m.stop();
});

function mutate(random: Random, valid: Uint8Array): Uint8Array {
  switch (random.int(4)) {
    case 0:
      return Uint8Array.from({ length: random.int(64) }, () => random.int(256));
    case 1:
      return valid.subarray(0, random.int(valid.length + 1));
    case 2: {
      const out = Uint8Array.from(valid.length > 0 ? valid : [0x0a, 0x02, 0x08, 0x01]);
      for (let i = 0; i < 1 + random.int(4); i++) out[random.int(out.length)] ^= 1 << random.int(8);
      return out;
    }
    default:
      // A length-delimited field claiming more bytes than follow, or a deep nesting.
      return random.chance(0.5) ? Uint8Array.from([0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01]) : Uint8Array.from(Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? 0x0a : 0x7f)));
  }
}

/** Sends raw bytes to a method; resolves with the status (streams: the first status or OK once data arrives). */
function send(client: grpc.Client, service: DescService, method: DescService["methods"][number], bytes: Uint8Array): Promise<grpc.StatusObject> {
  const path = `/${service.typeName}/${method.name}`;
  const serialize = (b: Uint8Array) => Buffer.from(b);
  const deserialize = (b: Buffer) => b;
  // A bound so a stalled service fails the case, generous for a loaded machine (the oversized
  // case uploads 4 MiB): the statuses are what is checked, not the time.
  const deadline = Date.now() + 20_000;
  return new Promise((resolve) => {
    if (method.methodKind === "server_streaming") {
      const call = client.makeServerStreamRequest(path, serialize, deserialize, bytes, new grpc.Metadata(), { deadline });
      // A stream that sends data was accepted (OK): end it. One that sends neither data nor a
      // status for 5 s is ended too (OK as well: the method accepted it and has nothing to say
      // yet). Not sooner: an oversized request takes a while to upload on a loaded machine, and
      // ending it before the server's RESOURCE_EXHAUSTED arrives would read as OK.
      const timer = setTimeout(() => call.cancel(), 5_000);
      call.on("data", () => call.cancel());
      call.on("error", () => undefined);
      call.on("status", (s) => {
        clearTimeout(timer);
        resolve(s.code === grpc.status.CANCELLED ? { ...s, code: grpc.status.OK } : s);
      });
      return;
    }
    client.makeUnaryRequest(path, serialize, deserialize, bytes, new grpc.Metadata(), { deadline }, (err) =>
      resolve(err ? { code: err.code, details: err.details, metadata: err.metadata } : { code: grpc.status.OK, details: "", metadata: new grpc.Metadata() }),
    );
  });
}

describe("Fuzzing the public gRPC services", () => {
  for (const [name, service] of Object.entries(services)) {
    it(`${name}: malformed, truncated, bit-flipped and oversized requests get precise statuses (seed ${SEED})`, async () => {
      const random = new Random(SEED);
      const Client = clientConstructor(service);
      const client = new Client(m.target, grpc.credentials.createInsecure(), { ...credentialChannelOptions(CREDENTIALS[0]), "grpc.max_send_message_length": -1 });
      try {
        for (const method of service.methods) {
          const valid = toBinary(method.input, create(method.input));
          for (let i = 0; i < CASES_PER_METHOD; i++) {
            const bytes = mutate(random, valid);
            const s = await send(client, service, method, bytes);
            assert.ok(PRECISE.has(s.code), `seed ${SEED} ${method.name} case ${i} (${Buffer.from(bytes).toString("hex").slice(0, 80)}): ${grpc.status[s.code]} ${s.details}`);
            if (s.code === grpc.status.INVALID_ARGUMENT) assert.ok(s.details.length > 10, `a precise message, got '${s.details}'`);
          }
          const huge = await send(client, service, method, new Uint8Array(DEFAULT_MAX_REQUEST_BYTES + 1));
          assert.equal(huge.code, grpc.status.RESOURCE_EXHAUSTED, `${method.name} oversized: ${grpc.status[huge.code]} ${huge.details}`);
          assert.match(huge.details, /larger than this service accepts/);
        }
        // Still serving.
        const health = await send(client, services.operator, services.operator.methods.find((x) => x.name === "GetHealth")!, new Uint8Array(0));
        assert.equal(health.code, grpc.status.OK);
      } finally {
        client.close();
      }
    });
  }
});
