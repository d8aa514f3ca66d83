/** The languages reports, emails and quota alerts are written in; one list so every config field and template set agrees. */
export const LANGUAGES = ["ko", "en"] as const;
export type Language = (typeof LANGUAGES)[number];
