/**
 * The daemon's capture side: a supervisor per interface (capturing now, or waiting for a missing
 * interface), and the loop that reads each capture in synchronous batches and hands every frame
 * to the verifier and the pipeline.
 *
 * @module
 */

import { Capture } from "../../ffi/pcap.ts";
import { interfaceIndex } from "../../ffi/interfaces.ts";
import type { ServerConfig } from "../config/server.ts";
import { decodeFrame } from "../packet/decode.ts";
import { PacketView } from "../packet/view.ts";
import { TRAILER_LENGTH } from "../protocol/constants.ts";
import { CaptureSupervisor, type CaptureSupervisorDeps } from "./capture_supervisor.ts";
import type { Counters } from "./counters.ts";
import type { LocalAddresses } from "./local_addresses.ts";
import type { Logger } from "./log.ts";
import type { Pipeline } from "./pipeline.ts";
import { replyRouteOf } from "./reply_route.ts";
import type { Verifier } from "./verifier.ts";

/** Packets read per synchronous batch; a full batch means the capture is backlogged. */
export const CAPTURE_BATCH = 256;

/** What the capture side needs from the daemon. */
export interface CaptureLoopDeps {
  /** The config of the day: a capture opened after a reload takes its settings. */
  config(): ServerConfig;
  verifier: Verifier;
  pipeline: Pipeline;
  /** The host's own addresses: knocks for any other destination are dropped. */
  locals: LocalAddresses;
  counters: Counters;
  log: Logger;
  /** A capture cannot work on interface `name`: the daemon stops. */
  fatal(name: string, error: Error): void;
}

/**
 * Starts a supervisor per interface: it captures now, or waits for a missing interface.
 *
 * @throws {Error} When a capture cannot work (permission, filter, library); the supervisors
 * started by this call are stopped first.
 */
export function openCaptures(
  interfaces: readonly string[],
  deps: CaptureLoopDeps,
): CaptureSupervisor[] {
  const started: CaptureSupervisor[] = [];
  try {
    for (const name of interfaces) {
      started.push(CaptureSupervisor.start(name, captureDeps(deps)));
    }
  } catch (error) {
    for (const supervisor of started) void supervisor.stop();
    throw error;
  }
  return started;
}

/** What a capture supervisor needs; the capture settings are read from the config of the day. */
function captureDeps(deps: CaptureLoopDeps): CaptureSupervisorDeps {
  return {
    open: (name: string) => {
      const config = deps.config();
      const capture = Capture.open(name, {
        // Only what arrives: the daemon's own answers carry its users' UIDs too.
        direction: "in",
        bufferSize: config.captureBufferBytes,
        promiscuous: config.promiscuous,
        ...(config.bpfFilter !== undefined ? { filter: config.bpfFilter } : {}),
        ...(config.libpcapPath !== undefined ? { libraryPath: config.libpcapPath } : {}),
      });
      // An interface that (re)appears brings its addresses: knocks to them are for this host.
      deps.locals.refresh();
      return capture;
    },
    serve: (capture: Capture) => serveCapture(capture, deps),
    exists: (name: string) => name === "any" || interfaceIndex(name) !== 0,
    fatal: deps.fatal,
    log: deps.log,
    now: () => performance.now(),
  };
}

/** Reads `capture` until it closes, handing each frame to the verifier and the pipeline. */
async function serveCapture(capture: Capture, deps: CaptureLoopDeps): Promise<void> {
  const view = new PacketView();
  const linkType = capture.linkType;
  const { verifier, pipeline, counters, locals } = deps;
  const onPacket = (frame: Uint8Array, length: number) => {
    if (decodeFrame(linkType, frame, length, view) !== "ok") {
      counters.count("undecodable");
      return;
    }
    if (
      view.payloadLength >= TRAILER_LENGTH &&
      !locals.owns(frame, view.destinationOffset, view.addressLength)
    ) {
      counters.count("foreign-destination");
      return;
    }
    const outcome = verifier.verify(frame, view, Date.now());
    if (outcome !== undefined) void pipeline.handle(outcome, replyRouteOf(frame, view));
  };
  // Synchronous batches, then an async poll (see ffi/pcap.ts for the measurements). The poll is
  // awaited even after a full batch, when it returns at once: that turn of the event loop is
  // what lets queued work (state writes, nft, commands) progress under a flood.
  while (!capture.closed) {
    const n = capture.read(onPacket, CAPTURE_BATCH);
    verifier.setUnderLoad(n === CAPTURE_BATCH);
    if (!await capture.wait()) break;
  }
}
