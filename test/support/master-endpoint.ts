import * as grpc from "@grpc/grpc-js";
import { addSchedulerService } from "../../src/actors/master/scheduler-service.js";
import { addOperatorService } from "../../src/operator/operator-service.js";
import { testLogger } from "../../src/runtime/log.js";
import { Cluster, type ClusterOptions } from "../master/harness.js";

/**
 * The master test cluster (ManualClock, scripted agents, real allocator) with its
 * SchedulerService and OperatorService on a loopback gRPC port, for testing schedulers and
 * operator tools against the real master.
 */
export class MasterEndpoint {
  private constructor(
    readonly cluster: Cluster,
    private readonly server: grpc.Server,
    readonly address: string,
  ) {}

  static async start(options: ClusterOptions = {}): Promise<MasterEndpoint> {
    const cluster = await Cluster.start(options);
    const server = new grpc.Server();
    addSchedulerService(server, cluster.facade, { reflection: false, log: testLogger() });
    addOperatorService(server, { master: cluster.facade, metrics: cluster.masterSystem.metrics, version: "test" });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    return new MasterEndpoint(cluster, server, `127.0.0.1:${port}`);
  }

  async stop(): Promise<void> {
    this.server.forceShutdown();
    await this.cluster.stop();
  }
}
