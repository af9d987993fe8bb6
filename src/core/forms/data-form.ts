/**
 * XEP-0004 data forms, as far as our ad-hoc commands need them (the login-token component's,
 * the server's client certificates command): building a form or a result, and reading the values
 * of a submitted form (bounded: a requester controls its size).
 */
import { xml, type Element } from "@xmpp/xml";

export const NS_DATA = "jabber:x:data";

export interface FormField {
  var: string;
  type?: "hidden" | "text-single" | "text-multi" | "jid-single" | "fixed" | "boolean" | "list-single";
  label?: string;
  required?: boolean;
  values?: string[];
  /** For list-single: the choices, as value and label. */
  options?: { value: string; label: string }[];
}

export interface FormContent {
  /** The hidden FORM_TYPE field's value (XEP-0068), first field of the form. */
  formType: string;
  title?: string;
  instructions?: string;
  fields: FormField[];
}

export function dataForm(type: "form" | "result", { formType, title, instructions, fields }: FormContent): Element {
  return xml(
    "x",
    { xmlns: NS_DATA, type },
    title === undefined ? null : xml("title", {}, title),
    instructions === undefined ? null : xml("instructions", {}, instructions),
    xml("field", { var: "FORM_TYPE", type: "hidden" }, xml("value", {}, formType)),
    ...fields.map((field) =>
      xml(
        "field",
        { var: field.var, type: field.type, label: field.label },
        field.required ? xml("required") : null,
        ...(field.options ?? []).map((option) => xml("option", { label: option.label }, xml("value", {}, option.value))),
        ...(field.values ?? []).map((value) => xml("value", {}, value)),
      ),
    ),
  );
}

/** Most fields and values read from a submitted form; a real client sends a handful. */
const MAX_FIELDS = 32;
// A PEM certificate in a text-multi field is one value per line: up to about 40 lines.
const MAX_VALUES = 64;

export class FormError extends Error {
  override readonly name = "FormError";
}

/**
 * The values of a submitted form (`type='submit'`), by field name. Throws FormError for
 * anything else: another form type, too many fields, a field without a name or named twice.
 */
export function submittedValues(x: Element): Map<string, string[]> {
  if (x.attrs.type !== "submit") throw new FormError(`the form must be of type submit, not ${JSON.stringify(x.attrs.type ?? "")}`);
  const fields = x.getChildren("field");
  if (fields.length > MAX_FIELDS) throw new FormError(`the form has more than ${MAX_FIELDS} fields`);
  const values = new Map<string, string[]>();
  for (const field of fields) {
    const name = field.attrs.var;
    if (!name) throw new FormError("a field has no var");
    if (values.has(name)) throw new FormError(`field ${JSON.stringify(name)} is given twice`);
    const given = field.getChildren("value");
    if (given.length > MAX_VALUES) throw new FormError(`field ${JSON.stringify(name)} has more than ${MAX_VALUES} values`);
    values.set(name, given.map((v) => v.text()));
  }
  return values;
}
