// A template that does not parse, or fails on the data it was given (a field that is not
// there, a function called wrongly). Worded as Docker words it: "template parsing error: …".
export class TemplateError extends Error {
  override name = 'TemplateError'
}
