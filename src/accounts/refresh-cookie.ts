/**
 * The refresh token travels only in this cookie: HttpOnly (no script reads it), Secure, SameSite=Strict
 * (no cross-site request carries it) and scoped to the refresh route, so no other request sends it.
 */
export const REFRESH_COOKIE = "__Secure-causeway_refresh";
export const REFRESH_PATH = "/api/v1/auth/refresh";

export function refreshCookie(token: string, maxAgeSeconds: number): string {
  return `${REFRESH_COOKIE}=${token}; Max-Age=${maxAgeSeconds}; Path=${REFRESH_PATH}; HttpOnly; Secure; SameSite=Strict`;
}

export function clearRefreshCookie(): string {
  return refreshCookie("", 0);
}
