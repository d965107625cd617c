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

/*
 * postern's own logs, written while routing users between an old and a
 * new server: the login row names the backend (Backend=<name>) and why
 * (Route=), after the Tls and ClientName keys that every postern login
 * row has.
 *
 * IMAP4, 2026-03-04:
 *   21 192.0.2.40 -> :143, LOGIN amy ok without TLS, Backend=new
 *   22 192.0.2.41 -> :993, ID Outlook 16.0, LOGIN dan ok, Backend=old
 *   23 192.0.2.42 -> :143, STARTTLS, LOGIN dan refused by the backend,
 *      then ok, Backend=old both times
 *   24 192.0.2.43 -> :143, LOGIN eve refused by an access rule: no backend
 *   25 192.0.2.44 -> :143, CAPABILITY, LOGOUT: no login, no backend
 *   26 192.0.2.40 -> :143, LOGIN "AMY" ok without TLS, Backend=new
 * POP3, 2026-03-04:
 *   31 192.0.2.41 -> :110, USER/PASS dan ok without TLS, RETR, DELE,
 *      Backend=old
 *   32 192.0.2.45 -> :995, USER/PASS ben@example.net ok, Backend=new
 *   33 192.0.2.46 -> :110, USER/PASS cat ok without TLS, Backend=default
 */
#define FX_POSTERN_HEADER(type)                                                \
	"dateTime,sessionId,seqNumber,sIp,cIp,user,duration,rqsize,rpsize,"    \
	"command,parameters,context,puid\r\n"                                  \
	"#Software: postern 0.1.0\r\n"                                         \
	"#Version: 15.0.0.0\r\n"                                               \
	"#Log-type: " type " Log\r\n"                                          \
	"#Date: 2026-03-04T08:00:00.000Z\r\n"                                  \
	"#Fields: dateTime,sessionId,seqNumber,sIp,cIp,user,duration,rqsize,"  \
	"rpsize,command,parameters,context,puid\r\n"

static const char fx_routed_imap[] = FX_POSTERN_HEADER(
    "IMAP4") "2026-03-04T08:00:00.000Z,0000000000000021,0,10.0.0.1:143,192.0.2.40:51001,,1,0,40,OpenSession,,Tls=none,\r\n"
	     "2026-03-04T08:00:00.100Z,0000000000000021,1,10.0.0.1:143,192.0.2.40:51001,,1,20,40,capability,,R=ok;Tls=none,\r\n"
	     "2026-03-04T08:00:00.200Z,0000000000000021,2,10.0.0.1:143,192.0.2.40:51001,amy,1,20,40,login,amy *****,\"R=ok;Msg=\"\"Proxy:10.0.0.6:143:Plaintext;ProxySuccess\"\";Tls=none;Backend=new;Route=map:2:user\",\r\n"
	     "2026-03-04T08:00:00.300Z,0000000000000021,3,10.0.0.1:143,192.0.2.40:51001,amy,1,20,40,select,INBOX,R=ok;Tls=none,\r\n"
	     "2026-03-04T08:00:00.400Z,0000000000000021,4,10.0.0.1:143,192.0.2.40:51001,amy,0,0,0,CloseSession,,Tls=none,\r\n"
	     "2026-03-04T09:00:00.000Z,0000000000000022,0,10.0.0.1:993,192.0.2.41:51002,,1,0,40,OpenSession,,Tls=implicit:TLSv1.3,\r\n"
	     "2026-03-04T09:00:00.100Z,0000000000000022,1,10.0.0.1:993,192.0.2.41:51002,,1,20,40,id,\"(\"\"name\"\" \"\"Outlook\"\" \"\"version\"\" \"\"16.0\"\")\",R=ok;Tls=implicit:TLSv1.3;ClientName=Outlook;ClientVersion=16.0,\r\n"
	     "2026-03-04T09:00:00.200Z,0000000000000022,2,10.0.0.1:993,192.0.2.41:51002,dan,1,20,40,login,dan *****,\"R=ok;Msg=\"\"Proxy:10.0.0.5:993:SSL;ProxySuccess\"\";Tls=implicit:TLSv1.3;ClientName=Outlook;ClientVersion=16.0;Backend=old;Route=default\",\r\n"
	     "2026-03-04T09:00:00.300Z,0000000000000022,3,10.0.0.1:993,192.0.2.41:51002,dan,0,0,0,CloseSession,,Tls=implicit:TLSv1.3,\r\n"
	     "2026-03-04T10:00:00.000Z,0000000000000023,0,10.0.0.1:143,192.0.2.42:51003,,1,0,40,OpenSession,,Tls=none,\r\n"
	     "2026-03-04T10:00:00.100Z,0000000000000023,1,10.0.0.1:143,192.0.2.42:51003,,1,20,40,starttls,,R=ok;Tls=none,\r\n"
	     "2026-03-04T10:00:00.200Z,0000000000000023,2,10.0.0.1:143,192.0.2.42:51003,dan,1,20,40,login,dan *****,\"R=\"\"a2 NO [AUTHENTICATIONFAILED] Authentication failed.\"\";Msg=\"\"Proxy:10.0.0.5:143:Plaintext;AuthFailed:LogonDenied,User: dan\"\";Tls=STARTTLS:TLSv1.3;Backend=old;Route=default;Reason=ProxyNotAuthenticated;ErrMsg=AuthFailed:LogonDenied\",\r\n"
	     "2026-03-04T10:00:00.300Z,0000000000000023,3,10.0.0.1:143,192.0.2.42:51003,dan,1,20,40,login,dan *****,\"R=ok;Msg=\"\"Proxy:10.0.0.5:143:Plaintext;ProxySuccess\"\";Tls=STARTTLS:TLSv1.3;Backend=old;Route=default\",\r\n"
	     "2026-03-04T10:00:00.400Z,0000000000000023,4,10.0.0.1:143,192.0.2.42:51003,dan,0,0,0,CloseSession,,Tls=STARTTLS:TLSv1.3,\r\n"
	     "2026-03-04T11:00:00.000Z,0000000000000024,0,10.0.0.1:143,192.0.2.43:51004,,1,0,40,OpenSession,,Tls=none,\r\n"
	     "2026-03-04T11:00:00.100Z,0000000000000024,1,10.0.0.1:143,192.0.2.43:51004,eve,1,20,40,login,eve *****,\"R=\"\"a1 NO [AUTHENTICATIONFAILED] Authentication failed.\"\";Msg=\"\"AuthFailed:LogonDenied,User: eve\"\";Tls=none;Reason=AccessRuleDenied:no-imap;ErrMsg=AuthFailed:LogonDenied\",\r\n"
	     "2026-03-04T11:00:00.200Z,0000000000000024,2,10.0.0.1:143,192.0.2.43:51004,eve,0,0,0,CloseSession,,Tls=none,\r\n"
	     "2026-03-04T12:00:00.000Z,0000000000000025,0,10.0.0.1:143,192.0.2.44:51005,,1,0,40,OpenSession,,Tls=none,\r\n"
	     "2026-03-04T12:00:00.100Z,0000000000000025,1,10.0.0.1:143,192.0.2.44:51005,,1,20,40,capability,,R=ok;Tls=none,\r\n"
	     "2026-03-04T12:00:00.200Z,0000000000000025,2,10.0.0.1:143,192.0.2.44:51005,,1,20,40,logout,,R=ok;Tls=none,\r\n"
	     "2026-03-04T12:00:00.300Z,0000000000000025,3,10.0.0.1:143,192.0.2.44:51005,,0,0,0,CloseSession,,Tls=none,\r\n"
	     "2026-03-04T13:00:00.000Z,0000000000000026,0,10.0.0.1:143,192.0.2.40:51006,,1,0,40,OpenSession,,Tls=none,\r\n"
	     "2026-03-04T13:00:00.100Z,0000000000000026,1,10.0.0.1:143,192.0.2.40:51006,AMY,1,20,40,login,AMY *****,\"R=ok;Msg=\"\"Proxy:10.0.0.6:143:Plaintext;ProxySuccess\"\";Tls=none;Backend=new;Route=map:2:user\",\r\n"
	     "2026-03-04T13:00:00.200Z,0000000000000026,2,10.0.0.1:143,192.0.2.40:51006,AMY,0,0,0,CloseSession,,Tls=none,\r\n";

static const char fx_routed_pop3[] = FX_POSTERN_HEADER(
    "POP3") "2026-03-04T08:00:00.000Z,0000000000000031,0,10.0.0.1:110,192.0.2.41:52001,,1,0,40,OpenSession,,Tls=none,\r\n"
	    "2026-03-04T08:00:00.100Z,0000000000000031,1,10.0.0.1:110,192.0.2.41:52001,dan,1,20,40,user, dan,R=ok;Tls=none,\r\n"
	    "2026-03-04T08:00:00.200Z,0000000000000031,2,10.0.0.1:110,192.0.2.41:52001,dan,1,20,40,pass, *****,\"R=ok;Msg=\"\"Proxy:10.0.0.5:110:Plaintext;ProxySuccess\"\";Tls=none;Backend=old;Route=default\",\r\n"
	    "2026-03-04T08:00:00.300Z,0000000000000031,3,10.0.0.1:110,192.0.2.41:52001,dan,1,20,40,retr, 1,R=ok;Tls=none,\r\n"
	    "2026-03-04T08:00:00.400Z,0000000000000031,4,10.0.0.1:110,192.0.2.41:52001,dan,1,20,40,dele, 1,R=ok;Tls=none,\r\n"
	    "2026-03-04T08:00:00.500Z,0000000000000031,5,10.0.0.1:110,192.0.2.41:52001,dan,0,0,0,CloseSession,,Tls=none,\r\n"
	    "2026-03-04T09:00:00.000Z,0000000000000032,0,10.0.0.1:995,192.0.2.45:52002,,1,0,40,OpenSession,,Tls=implicit:TLSv1.3,\r\n"
	    "2026-03-04T09:00:00.100Z,0000000000000032,1,10.0.0.1:995,192.0.2.45:52002,ben@example.net,1,20,40,user, ben@example.net,R=ok;Tls=implicit:TLSv1.3,\r\n"
	    "2026-03-04T09:00:00.200Z,0000000000000032,2,10.0.0.1:995,192.0.2.45:52002,ben@example.net,1,20,40,pass, *****,\"R=ok;Msg=\"\"Proxy:10.0.0.6:995:SSL;ProxySuccess\"\";Tls=implicit:TLSv1.3;Backend=new;Route=map:3:domain\",\r\n"
	    "2026-03-04T09:00:00.300Z,0000000000000032,3,10.0.0.1:995,192.0.2.45:52002,ben@example.net,0,0,0,CloseSession,,Tls=implicit:TLSv1.3,\r\n"
	    "2026-03-04T10:00:00.000Z,0000000000000033,0,10.0.0.1:110,192.0.2.46:52003,,1,0,40,OpenSession,,Tls=none,\r\n"
	    "2026-03-04T10:00:00.100Z,0000000000000033,1,10.0.0.1:110,192.0.2.46:52003,cat,1,20,40,user, cat,R=ok;Tls=none,\r\n"
	    "2026-03-04T10:00:00.200Z,0000000000000033,2,10.0.0.1:110,192.0.2.46:52003,cat,1,20,40,pass, *****,\"R=ok;Msg=\"\"Proxy:10.0.0.7:110:Plaintext;ProxySuccess\"\";Tls=none;Backend=default;Route=default\",\r\n"
	    "2026-03-04T10:00:00.300Z,0000000000000033,3,10.0.0.1:110,192.0.2.46:52003,cat,0,0,0,CloseSession,,Tls=none,\r\n";

/*
 * postern's logs from before routing: no Backend key, the backend is the
 * address in Msg=Proxy:<host>:<port>:<enc>.  IMAP4, 2026-02-20:
 *   41 198.51.100.20 -> :143, LOGIN carol ok, Proxy:mail.example.org:143
 *   42 198.51.100.21 -> :993, LOGIN erin ok, Proxy to an IPv6 address
 *   43 198.51.100.22 -> :143, LOGIN frank refused by postern itself
 *      (LoginTypeDenied, no Msg): no backend
 */
static const char fx_old_postern_imap[] = FX_POSTERN_HEADER(
    "IMAP4") "2026-02-20T08:00:00.000Z,0000000000000041,0,10.0.0.1:143,198.51.100.20:53001,,1,0,40,OpenSession,,Tls=none,\r\n"
	     "2026-02-20T08:00:00.100Z,0000000000000041,1,10.0.0.1:143,198.51.100.20:53001,carol,1,20,40,login,carol *****,\"R=ok;Msg=\"\"Proxy:mail.example.org:143:Plaintext;ProxySuccess\"\";Tls=none\",\r\n"
	     "2026-02-20T08:00:00.200Z,0000000000000041,2,10.0.0.1:143,198.51.100.20:53001,carol,0,0,0,CloseSession,,Tls=none,\r\n"
	     "2026-02-20T09:00:00.000Z,0000000000000042,0,10.0.0.1:993,198.51.100.21:53002,,1,0,40,OpenSession,,Tls=implicit:TLSv1.2,\r\n"
	     "2026-02-20T09:00:00.100Z,0000000000000042,1,10.0.0.1:993,198.51.100.21:53002,erin,1,20,40,login,erin *****,\"R=ok;Msg=\"\"Proxy:2001:db8::25:993:SSL;ProxySuccess\"\";Tls=implicit:TLSv1.2\",\r\n"
	     "2026-02-20T09:00:00.200Z,0000000000000042,2,10.0.0.1:993,198.51.100.21:53002,erin,0,0,0,CloseSession,,Tls=implicit:TLSv1.2,\r\n"
	     "2026-02-20T10:00:00.000Z,0000000000000043,0,10.0.0.1:143,198.51.100.22:53003,,1,0,40,OpenSession,,Tls=none,\r\n"
	     "2026-02-20T10:00:00.100Z,0000000000000043,1,10.0.0.1:143,198.51.100.22:53003,frank,1,20,40,login,frank *****,\"R=\"\"a1 NO [PRIVACYREQUIRED] Use STARTTLS first.\"\";Tls=none;ErrMsg=LoginTypeDenied\",\r\n"
	     "2026-02-20T10:00:00.200Z,0000000000000043,2,10.0.0.1:143,198.51.100.22:53003,frank,0,0,0,CloseSession,,Tls=none,\r\n";

#define FX_ROUTED_IMAP_NAME "IMAP420260304-1.LOG"
#define FX_ROUTED_POP3_NAME "POP320260304-1.LOG"
#define FX_OLD_POSTERN_NAME "IMAP420260220-1.LOG"

/*
 * Logins by mechanism.  No published Exchange log shows NTLM, GSSAPI or
 * OAuth rows, so these rows are synthesized from the shapes of the real
 * ones in tests/data/exchange-logs: the IMAP rows from
 * crowdsecurity-hub__exchange-imap-logs.log ("authenticate,PLAIN", the
 * mechanism alone in the parameters) with the mechanism and outcome
 * changed, the POP3 rows from crowdsecurity-hub__exchange-pop-logs.log
 * ("auth, PLAIN", with the leading space), OpenSession/CloseSession from
 * msqa-1156767__IMAP4-frontend-Exchange2013CU23.log.  An NTLM exchange is
 * written as one row per step: the challenge row (R="+ <Type 2>"), a step
 * row without outcome, then the row with the outcome.
 *
 * IMAP4 (Exchange's shape, no Tls key), 2026-03-05:
 *   51 192.0.2.51 -> :143, AUTHENTICATE NTLM in three rows, ntlmuser ok
 *   52 192.0.2.52 -> :143, AUTHENTICATE GSSAPI krbuser ok
 *   53 192.0.2.53 -> :143, AUTHENTICATE XOAUTH2 oauser ok
 *   54 192.0.2.54 -> :143, STARTTLS, AUTHENTICATE OAUTHBEARER bearer ok
 *   55 192.0.2.55 -> :993, AUTHENTICATE PLAIN plainuser ok
 *   56 192.0.2.56 -> :143, LOGIN loginuser ok
 *   57 192.0.2.57 -> :143, AUTHENTICATE NTLM mixuser refused, then
 *      AUTHENTICATE PLAIN ok
 * POP3 (postern's shape, with its Tls key), 2026-03-05:
 *   61 192.0.2.61 -> :110, AUTH NTLM ntlmpop ok, Tls=none
 *   62 192.0.2.62 -> :110, AUTH XOAUTH2 oapop ok, Tls=none
 *   63 192.0.2.63 -> :995, AUTH GSSAPI krbpop ok, Tls=implicit
 *   64 192.0.2.64 -> :110, USER/PASS userpop ok, Tls=none
 *   65 192.0.2.65 -> :110, AUTH NTLM ntlmpop2 refused, Tls=none
 * Without TLS, SecureLogin breaks 51 52 53 56 57 61 62 64;
 * PlainTextAuthentication only 53 56 57 62 64; PlainTextLogin none.
 */
static const char fx_mech_imap[] = FX_HEADER(
    "IMAP4") "2026-03-05T08:00:00.000Z,0000000000000051,0,10.0.0.1:143,192.0.2.51:54001,,1,0,53,OpenSession,,,\r\n"
	     "2026-03-05T08:00:00.100Z,0000000000000051,1,10.0.0.1:143,192.0.2.51:54001,,1,24,80,authenticate,NTLM,\"R=\"\"+ TlRMTVNTUAACAAAADAAMADAAAAAFgomiESIzRFVmd4gAAAAAAAAAAA==\"\"\",\r\n"
	     "2026-03-05T08:00:00.200Z,0000000000000051,2,10.0.0.1:143,192.0.2.51:54001,,1,300,4,authenticate,NTLM,,\r\n"
	     "2026-03-05T08:00:00.300Z,0000000000000051,3,10.0.0.1:143,192.0.2.51:54001,ntlmuser,30,2,30,authenticate,NTLM,R=ok,\r\n"
	     "2026-03-05T08:00:00.400Z,0000000000000051,4,10.0.0.1:143,192.0.2.51:54001,ntlmuser,0,0,0,CloseSession,,,\r\n"
	     "2026-03-05T08:10:00.000Z,0000000000000052,0,10.0.0.1:143,192.0.2.52:54002,,1,0,53,OpenSession,,,\r\n"
	     "2026-03-05T08:10:00.100Z,0000000000000052,1,10.0.0.1:143,192.0.2.52:54002,krbuser,40,900,30,authenticate,GSSAPI,R=ok,\r\n"
	     "2026-03-05T08:10:00.200Z,0000000000000052,2,10.0.0.1:143,192.0.2.52:54002,krbuser,0,0,0,CloseSession,,,\r\n"
	     "2026-03-05T08:20:00.000Z,0000000000000053,0,10.0.0.1:143,192.0.2.53:54003,,1,0,53,OpenSession,,,\r\n"
	     "2026-03-05T08:20:00.100Z,0000000000000053,1,10.0.0.1:143,192.0.2.53:54003,oauser,40,400,30,authenticate,XOAUTH2,R=ok,\r\n"
	     "2026-03-05T08:20:00.200Z,0000000000000053,2,10.0.0.1:143,192.0.2.53:54003,oauser,0,0,0,CloseSession,,,\r\n"
	     "2026-03-05T08:30:00.000Z,0000000000000054,0,10.0.0.1:143,192.0.2.54:54004,,1,0,53,OpenSession,,,\r\n"
	     "2026-03-05T08:30:00.100Z,0000000000000054,1,10.0.0.1:143,192.0.2.54:54004,,30,12,40,starttls,,R=ok,\r\n"
	     "2026-03-05T08:30:00.200Z,0000000000000054,2,10.0.0.1:143,192.0.2.54:54004,bearer,40,400,30,authenticate,OAUTHBEARER,R=ok,\r\n"
	     "2026-03-05T08:30:00.300Z,0000000000000054,3,10.0.0.1:143,192.0.2.54:54004,bearer,0,0,0,CloseSession,,,\r\n"
	     "2026-03-05T08:40:00.000Z,0000000000000055,0,10.0.0.1:993,192.0.2.55:54005,,30,0,53,OpenSession,,,\r\n"
	     "2026-03-05T08:40:00.100Z,0000000000000055,1,10.0.0.1:993,192.0.2.55:54005,plainuser,40,60,30,authenticate,PLAIN,R=ok,\r\n"
	     "2026-03-05T08:40:00.200Z,0000000000000055,2,10.0.0.1:993,192.0.2.55:54005,plainuser,0,0,0,CloseSession,,,\r\n"
	     "2026-03-05T08:50:00.000Z,0000000000000056,0,10.0.0.1:143,192.0.2.56:54006,,1,0,53,OpenSession,,,\r\n"
	     "2026-03-05T08:50:00.100Z,0000000000000056,1,10.0.0.1:143,192.0.2.56:54006,loginuser,40,30,30,login,loginuser *****,R=ok,\r\n"
	     "2026-03-05T08:50:00.200Z,0000000000000056,2,10.0.0.1:143,192.0.2.56:54006,loginuser,0,0,0,CloseSession,,,\r\n"
	     "2026-03-05T09:00:00.000Z,0000000000000057,0,10.0.0.1:143,192.0.2.57:54007,,1,0,53,OpenSession,,,\r\n"
	     "2026-03-05T09:00:00.100Z,0000000000000057,1,10.0.0.1:143,192.0.2.57:54007,,1,24,80,authenticate,NTLM,\"R=\"\"+ TlRMTVNTUAACAAAADAAMADAAAAAFgomiESIzRFVmd4gAAAAAAAAAAA==\"\"\",\r\n"
	     "2026-03-05T09:00:00.200Z,0000000000000057,2,10.0.0.1:143,192.0.2.57:54007,mixuser,168,300,31,authenticate,NTLM,\"R=\"\"2 NO AUTHENTICATE failed.\"\";Msg=\"\"AuthFailed:LogonDenied,User: mixuser\"\";ErrMsg=AuthFailed:LogonDenied\",\r\n"
	     "2026-03-05T09:00:00.300Z,0000000000000057,3,10.0.0.1:143,192.0.2.57:54007,mixuser,40,60,30,authenticate,PLAIN,R=ok,\r\n"
	     "2026-03-05T09:00:00.400Z,0000000000000057,4,10.0.0.1:143,192.0.2.57:54007,mixuser,0,0,0,CloseSession,,,\r\n";

static const char fx_mech_pop3[] = FX_POSTERN_HEADER(
    "POP3") "2026-03-05T10:00:00.000Z,0000000000000061,0,10.0.0.1:110,192.0.2.61:55001,,1,0,40,OpenSession,,Tls=none,\r\n"
	    "2026-03-05T10:00:00.100Z,0000000000000061,1,10.0.0.1:110,192.0.2.61:55001,ntlmpop,30,300,40,auth, NTLM,\"R=ok;Msg=\"\"Proxy:10.0.0.5:110:Plaintext;ProxySuccess\"\";Tls=none\",\r\n"
	    "2026-03-05T10:00:00.200Z,0000000000000061,2,10.0.0.1:110,192.0.2.61:55001,ntlmpop,0,0,0,CloseSession,,Tls=none,\r\n"
	    "2026-03-05T10:10:00.000Z,0000000000000062,0,10.0.0.1:110,192.0.2.62:55002,,1,0,40,OpenSession,,Tls=none,\r\n"
	    "2026-03-05T10:10:00.100Z,0000000000000062,1,10.0.0.1:110,192.0.2.62:55002,oapop,30,400,40,auth, XOAUTH2,\"R=ok;Msg=\"\"Proxy:10.0.0.5:110:Plaintext;ProxySuccess\"\";Tls=none\",\r\n"
	    "2026-03-05T10:10:00.200Z,0000000000000062,2,10.0.0.1:110,192.0.2.62:55002,oapop,0,0,0,CloseSession,,Tls=none,\r\n"
	    "2026-03-05T10:20:00.000Z,0000000000000063,0,10.0.0.1:995,192.0.2.63:55003,,1,0,40,OpenSession,,Tls=implicit:TLSv1.3,\r\n"
	    "2026-03-05T10:20:00.100Z,0000000000000063,1,10.0.0.1:995,192.0.2.63:55003,krbpop,30,900,40,auth, GSSAPI,\"R=ok;Msg=\"\"Proxy:10.0.0.5:995:SSL;ProxySuccess\"\";Tls=implicit:TLSv1.3\",\r\n"
	    "2026-03-05T10:20:00.200Z,0000000000000063,2,10.0.0.1:995,192.0.2.63:55003,krbpop,0,0,0,CloseSession,,Tls=implicit:TLSv1.3,\r\n"
	    "2026-03-05T10:30:00.000Z,0000000000000064,0,10.0.0.1:110,192.0.2.64:55004,,1,0,40,OpenSession,,Tls=none,\r\n"
	    "2026-03-05T10:30:00.100Z,0000000000000064,1,10.0.0.1:110,192.0.2.64:55004,userpop,1,20,40,user, userpop,R=ok;Tls=none,\r\n"
	    "2026-03-05T10:30:00.200Z,0000000000000064,2,10.0.0.1:110,192.0.2.64:55004,userpop,30,15,40,pass, *****,\"R=ok;Msg=\"\"Proxy:10.0.0.5:110:Plaintext;ProxySuccess\"\";Tls=none\",\r\n"
	    "2026-03-05T10:30:00.300Z,0000000000000064,3,10.0.0.1:110,192.0.2.64:55004,userpop,0,0,0,CloseSession,,Tls=none,\r\n"
	    "2026-03-05T10:40:00.000Z,0000000000000065,0,10.0.0.1:110,192.0.2.65:55005,,1,0,40,OpenSession,,Tls=none,\r\n"
	    "2026-03-05T10:40:00.100Z,0000000000000065,1,10.0.0.1:110,192.0.2.65:55005,ntlmpop2,200,300,69,auth, NTLM,\"R=\"\"-ERR Authentication failure: unknown user name or bad password.\"\";Msg=\"\"AuthFailed:LogonDenied,User: ntlmpop2\"\";Tls=none;ErrMsg=AuthFailed:LogonDenied\",\r\n"
	    "2026-03-05T10:40:00.200Z,0000000000000065,2,10.0.0.1:110,192.0.2.65:55005,ntlmpop2,0,0,0,CloseSession,,Tls=none,\r\n";

/*
 * Rows written wrongly, carrying secrets that no report may show: an
 * XOAUTH2 initial response in the parameters and its base64 in the user
 * column, an NTLM Type 3 message shifted into the command column and into
 * the user column, a decoded bearer token, an NTLM blob as the client
 * address.  IMAP4, 2026-03-06, all without TLS:
 *   71 192.0.2.71 -> :143, AUTHENTICATE "XOAUTH2 <token>" ok
 *   72 192.0.2.72 -> :143, AUTHENTICATE NTLM with the Type 3 as a row
 *      of its own, then ok
 *   73 <blob> -> :143, LOGIN with a decoded token as the user, refused
 */
#define FX_SECRET_B64                                                          \
	"dXNlcj1ib2JAZXhhbXBsZS5vcmcBYXV0aD1CZWFyZXIgeWEyOS5zZWNyZXQBAQ=="
#define FX_SECRET_NTLM                                                         \
	"TlRMTVNTUAADAAAAGAAYAEgAAAAYABgAYAAAAAwADAB4AAAACAAIAIQAAAAQABAAjAAA"
#define FX_SECRET_BEARER "ya29.SecretBearerToken"
static const char fx_mech_secrets[] = FX_HEADER(
    "IMAP4") "2026-03-06T08:00:00.000Z,0000000000000071,0,10.0.0.1:143,192.0.2.71:56001,,1,0,53,OpenSession,,,\r\n"
	     "2026-03-06T08:00:00.100Z,0000000000000071,1,10.0.0.1:143,192.0.2.71:56001," FX_SECRET_B64
	     ",40,400,30,authenticate,XOAUTH2 " FX_SECRET_B64 ",R=ok,\r\n"
	     "2026-03-06T08:00:00.200Z,0000000000000071,2,10.0.0.1:143,192.0.2.71:56001," FX_SECRET_B64
	     ",0,0,0,CloseSession,,,\r\n"
	     "2026-03-06T08:10:00.000Z,0000000000000072,0,10.0.0.1:143,192.0.2.72:56002,,1,0,53,OpenSession,,,\r\n"
	     "2026-03-06T08:10:00.100Z,0000000000000072,1,10.0.0.1:143,192.0.2.72:56002,,1,24,80,authenticate,NTLM,\"R=\"\"+ TlRMTVNTUAACAAAADAAMADAAAAAFgomiESIzRFVmd4gAAAAAAAAAAA==\"\"\",\r\n"
	     "2026-03-06T08:10:00.200Z,0000000000000072,2,10.0.0.1:143,192.0.2.72:56002," FX_SECRET_NTLM
	     ",1,300,4," FX_SECRET_NTLM "," FX_SECRET_NTLM ",,\r\n"
	     "2026-03-06T08:10:00.300Z,0000000000000072,3,10.0.0.1:143,192.0.2.72:56002,,30,2,30,authenticate,NTLM,R=ok,\r\n"
	     "2026-03-06T08:10:00.400Z,0000000000000072,4,10.0.0.1:143,192.0.2.72:56002,,0,0,0,CloseSession,,,\r\n"
	     "2026-03-06T08:20:00.000Z,0000000000000073,0,10.0.0.1:143," FX_SECRET_NTLM
	     ":56003,,1,0,53,OpenSession,,,\r\n"
	     "2026-03-06T08:20:00.100Z,0000000000000073,1,10.0.0.1:143," FX_SECRET_NTLM
	     ":56003,user=bob\x01"
	     "auth=Bearer " FX_SECRET_BEARER
	     "\x01\x01,40,30,30,login,x *****,R=no,\r\n"
	     "2026-03-06T08:20:00.200Z,0000000000000073,2,10.0.0.1:143," FX_SECRET_NTLM
	     ":56003,,0,0,0,CloseSession,,,\r\n";

#define FX_MECH_IMAP_NAME "IMAP420260305-1.LOG"
#define FX_MECH_POP3_NAME "POP320260305-1.LOG"
#define FX_MECH_SECRETS_NAME "IMAP420260306-1.LOG"

#endif /* POSTERN_INVENTORY_FIXTURE_H */
