// Node names: the one rule (they name the node's record in the store, its session and its pin
// directory, so they must be short and filesystem-safe).

/** 1-63 characters, letters, digits, `_`, `.`, `-`, starting with a letter or digit. */
export const NODE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/

export const NODE_NAME_RULE = '1-63 letters, digits, _ . - (starting with a letter or digit)'

export const isNodeName = (name: string): boolean => NODE_NAME.test(name)
