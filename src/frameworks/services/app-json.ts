/** An app definition as JSON (Marathon's field names), before and after normalizeApp (app-definition.ts). */
export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type AppJson = { [k: string]: Json };
