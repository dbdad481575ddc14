/** Resources as tests write them. */
import { create } from "@bufbuild/protobuf";
import { Value_Type } from "../../src/gen/dcos/v1/common_pb.js";
import { ReservationInfo_Type, ResourceSchema, Volume_Mode, type Resource } from "../../src/gen/dcos/v1/resources_pb.js";

/** A scalar resource as an operator writes it (no allocation role): reserved to `role`, a persistent volume `volume`. */
export function scalar(name: string, value: number, role?: string, volume?: string): Resource {
  return create(ResourceSchema, {
    name,
    type: Value_Type.SCALAR,
    scalar: { value },
    reservations: role ? [{ type: ReservationInfo_Type.DYNAMIC, role }] : [],
    disk: volume ? { persistence: { id: volume }, volume: { containerPath: "data", mode: Volume_Mode.RW } } : undefined,
  });
}
