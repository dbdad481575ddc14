/**
 * What the posix and Docker containerizers share about the containers they track: the
 * phases a container goes through.
 */

export enum ContainerPhase {
  LAUNCHING = "LAUNCHING",
  RUNNING = "RUNNING",
  DESTROYING = "DESTROYING",
  TERMINATED = "TERMINATED",
}
