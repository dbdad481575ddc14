/**
 * The command executor: a separate node process the agent starts (through its
 * containerizer) for one command task. It connects back to the agent, receives LAUNCH,
 * runs the command in its own process group and reports the task's states.
 */
import { runBuiltinExecutor } from "./builtin-executor.js";

runBuiltinExecutor("command-executor");
