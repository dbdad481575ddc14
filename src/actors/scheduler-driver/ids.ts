/** An id as a plain string or as its protobuf message ({ value }). */
export type IdLike = string | { readonly value: string };

export function idValue(id: IdLike): string {
  return typeof id === "string" ? id : id.value;
}

/** `{ value }` for a protobuf id field. */
export function idField(id: IdLike): { value: string } {
  return { value: idValue(id) };
}
