// The agent console's words, in Arabic and English (merged into STRINGS by strings.js).

export const AGENT_STRINGS = {
  en: {
  },
  ar: {
  },
};
