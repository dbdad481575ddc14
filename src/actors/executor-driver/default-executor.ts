/**
 * The default executor: a separate node process the agent starts for a task group. It runs
 * the tasks of each LAUNCH_GROUP together; one failing or being killed kills the others.
 */
import { runBuiltinExecutor } from "./builtin-executor.js";

runBuiltinExecutor("default-executor");
