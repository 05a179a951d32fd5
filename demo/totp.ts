/**
 * Prints the current TOTP code for a secret from the demo IdP's `/mfa/enroll` (what an authenticator app shows):
 * `npm run -s demo:totp -- <secret>`.
 */
import { generate } from 'otplib';

const secret = process.argv[2];
if (!secret || !/^[A-Z2-7]+=*$/.test(secret)) {
  process.stderr.write('usage: npm run -s demo:totp -- <base32 secret from /mfa/enroll>\n');
  process.exit(2);
}
process.stdout.write(`${await generate({ secret })}\n`);
