/*
 * A small hand-written pair of log files whose inventory is known, shared
 * by the aggregation and report tests (and written out by the end-to-end
 * test in tests/inventory_cli.sh).
 *
 * POP3, 2026-03-01:
 *   01 192.0.2.10 -> :110, USER/PASS alice ok without TLS, RETR, DELE
 *   02 192.0.2.20 -> :110, STLS, PASS bob ok, RETR, no DELE
 *   03 192.0.2.10 -> :995, PASS alice ok (implicit TLS), rows interleaved
 *      with 02
 *   04 192.0.2.30 -> :110, PASS mallory refused, without TLS
 * IMAP4, 2026-03-02:
 *   0A 198.51.100.7 -> :143, ID Thunderbird 115.3, LOGIN carol ok, no TLS
 *   0B 198.51.100.7 -> :993, ID Thunderbird 115.3, LOGIN carol ok
 *   0C 198.51.100.8 -> :10993, postern's Tls=implicit key, LOGIN dave ok,
 *      no CloseSession (the file ends)
 *   0D [2001:db8::5] -> :143, STARTTLS, AUTHENTICATE PLAIN erin ok
 *   0E 192.0.2.10 -> :143, LOGIN "ALICE" ok without TLS (same user as alice)
 */
#ifndef POSTERN_INVENTORY_FIXTURE_H
#define POSTERN_INVENTORY_FIXTURE_H

#define FX_HEADER(type)                                                        \
	"dateTime,sessionId,seqNumber,sIp,cIp,user,duration,rqsize,rpsize,"    \
	"command,parameters,context,puid\r\n"                                  \
	"#Software: Microsoft Exchange Server\r\n"                             \
	"#Version: 15.0.0.0\r\n"                                               \
	"#Log-type: " type " Log\r\n"                                          \
	"#Date: 2026-03-01T10:00:00.000Z\r\n"                                  \
	"#Fields: dateTime,sessionId,seqNumber,sIp,cIp,user,duration,rqsize,"  \
	"rpsize,command,parameters,context,puid\r\n"

static const char fx_pop3[] = FX_HEADER(
    "POP3") "2026-03-01T10:00:00.000Z,0000000000000001,0,10.0.0.1:110,192.0.2.10:40001,,1,0,40,OpenSession,,,\r\n"
	    "2026-03-01T10:00:00.100Z,0000000000000001,1,10.0.0.1:110,192.0.2.10:40001,alice,1,12,20,user, alice,R=ok,\r\n"
	    "2026-03-01T10:00:00.200Z,0000000000000001,2,10.0.0.1:110,192.0.2.10:40001,alice,5,15,20,pass, *****,\"R=ok;Msg=\"\"Proxy:mail:110:Plaintext;ProxySuccess\"\"\",\r\n"
	    "2026-03-01T10:00:00.300Z,0000000000000001,3,10.0.0.1:110,192.0.2.10:40001,alice,1,8,500,retr, 1,R=ok,\r\n"
	    "2026-03-01T10:00:00.400Z,0000000000000001,4,10.0.0.1:110,192.0.2.10:40001,alice,1,8,20,dele, 1,R=ok,\r\n"
	    "2026-03-01T10:00:00.500Z,0000000000000001,5,10.0.0.1:110,192.0.2.10:40001,alice,0,0,0,CloseSession,,,\r\n"
	    "2026-03-01T11:00:00.000Z,0000000000000002,0,10.0.0.1:110,192.0.2.20:40002,,1,0,40,OpenSession,,,\r\n"
	    "2026-03-01T11:00:00.100Z,0000000000000002,1,10.0.0.1:110,192.0.2.20:40002,,30,6,20,stls,,R=ok,\r\n"
	    "2026-03-01T11:00:00.150Z,0000000000000003,0,10.0.0.1:995,192.0.2.10:40003,,1,0,40,OpenSession,,,\r\n"
	    "2026-03-01T11:00:00.200Z,0000000000000002,2,10.0.0.1:110,192.0.2.20:40002,bob,1,10,20,user, bob,R=ok,\r\n"
	    "2026-03-01T11:00:00.250Z,0000000000000003,1,10.0.0.1:995,192.0.2.10:40003,alice,1,12,20,user, alice,R=ok,\r\n"
	    "2026-03-01T11:00:00.300Z,0000000000000002,3,10.0.0.1:110,192.0.2.20:40002,bob,5,15,20,pass, *****,R=ok,\r\n"
	    "2026-03-01T11:00:00.350Z,0000000000000003,2,10.0.0.1:995,192.0.2.10:40003,alice,5,15,20,pass, *****,R=ok,\r\n"
	    "2026-03-01T11:00:00.400Z,0000000000000002,4,10.0.0.1:110,192.0.2.20:40002,bob,1,8,500,retr, 1,R=ok,\r\n"
	    "2026-03-01T11:00:00.450Z,0000000000000003,3,10.0.0.1:995,192.0.2.10:40003,alice,0,0,0,CloseSession,,,\r\n"
	    "2026-03-01T11:00:00.500Z,0000000000000002,5,10.0.0.1:110,192.0.2.20:40002,bob,0,0,0,CloseSession,,,\r\n"
	    "2026-03-01T12:00:00.000Z,0000000000000004,0,10.0.0.1:110,192.0.2.30:40004,,1,0,40,OpenSession,,,\r\n"
	    "2026-03-01T12:00:00.100Z,0000000000000004,1,10.0.0.1:110,192.0.2.30:40004,mallory,1,14,20,user, mallory,R=ok,\r\n"
	    "2026-03-01T12:00:01.200Z,0000000000000004,2,10.0.0.1:110,192.0.2.30:40004,mallory,1000,15,36,pass, *****,\"R=\"\"-ERR [AUTH] Authentication failed.\"\";ErrMsg=AuthFailed:LogonDenied\",\r\n"
	    "2026-03-01T12:00:01.300Z,0000000000000004,3,10.0.0.1:110,192.0.2.30:40004,mallory,0,0,0,CloseSession,,,\r\n";

static const char fx_imap[] = FX_HEADER(
    "IMAP4") "2026-03-02T08:00:00.000Z,000000000000000A,0,10.0.0.1:143,198.51.100.7:50001,,1,0,60,OpenSession,,,\r\n"
	     "2026-03-02T08:00:00.100Z,000000000000000A,1,10.0.0.1:143,198.51.100.7:50001,,1,50,80,id,\"(\"\"name\"\" \"\"Thunderbird\"\" \"\"version\"\" \"\"115.3\"\")\",R=ok,\r\n"
	     "2026-03-02T08:00:00.200Z,000000000000000A,2,10.0.0.1:143,198.51.100.7:50001,carol,9,30,40,login,carol *****,\"R=\"\"a1 OK LOGIN completed.\"\"\",\r\n"
	     "2026-03-02T08:00:00.300Z,000000000000000A,3,10.0.0.1:143,198.51.100.7:50001,carol,1,20,900,select,INBOX,R=ok,\r\n"
	     "2026-03-02T08:00:00.400Z,000000000000000A,4,10.0.0.1:143,198.51.100.7:50001,carol,0,0,0,CloseSession,,,\r\n"
	     "2026-03-02T09:00:00.000Z,000000000000000B,0,10.0.0.1:993,198.51.100.7:50002,,20,0,60,OpenSession,,,\r\n"
	     "2026-03-02T09:00:00.100Z,000000000000000B,1,10.0.0.1:993,198.51.100.7:50002,,1,50,80,id,\"(\"\"name\"\" \"\"Thunderbird\"\" \"\"version\"\" \"\"115.3\"\")\",R=ok,\r\n"
	     "2026-03-02T09:00:00.200Z,000000000000000B,2,10.0.0.1:993,198.51.100.7:50002,carol,9,30,40,login,carol *****,R=ok,\r\n"
	     "2026-03-02T09:00:00.300Z,000000000000000B,3,10.0.0.1:993,198.51.100.7:50002,carol,0,0,0,CloseSession,,,\r\n"
	     "2026-03-02T10:00:00.000Z,000000000000000C,0,10.0.0.1:10993,198.51.100.8:50003,,25,0,60,OpenSession,,Tls=implicit:TLSv1.3,\r\n"
	     "2026-03-02T10:00:00.200Z,000000000000000C,1,10.0.0.1:10993,198.51.100.8:50003,dave,9,30,40,login,dave *****,R=ok;Tls=implicit:TLSv1.3,\r\n"
	     "2026-03-02T11:00:00.000Z,000000000000000D,0,10.0.0.1:143,[2001:db8::5]:50004,,1,0,60,OpenSession,,,\r\n"
	     "2026-03-02T11:00:00.100Z,000000000000000D,1,10.0.0.1:143,[2001:db8::5]:50004,,30,12,40,starttls,,R=ok,\r\n"
	     "2026-03-02T11:00:00.200Z,000000000000000D,2,10.0.0.1:143,[2001:db8::5]:50004,erin,9,60,40,authenticate,PLAIN,R=ok,\r\n"
	     "2026-03-02T11:00:00.300Z,000000000000000D,3,10.0.0.1:143,[2001:db8::5]:50004,erin,0,0,0,CloseSession,,,\r\n"
	     "2026-03-02T12:00:00.000Z,000000000000000E,0,10.0.0.1:143,192.0.2.10:40010,,1,0,60,OpenSession,,,\r\n"
	     "2026-03-02T12:00:00.200Z,000000000000000E,1,10.0.0.1:143,192.0.2.10:40010,ALICE,9,30,40,login,ALICE *****,R=ok,\r\n"
	     "2026-03-02T12:00:00.300Z,000000000000000E,2,10.0.0.1:143,192.0.2.10:40010,ALICE,0,0,0,CloseSession,,,\r\n";

#define FX_POP3_NAME "POP320260301-1.LOG"
#define FX_IMAP_NAME "IMAP420260302-1.LOG"

#endif /* POSTERN_INVENTORY_FIXTURE_H */
