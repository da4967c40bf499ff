using System;
using E2m.ModemSim.Usim;

namespace E2m.ModemSim.Modem
{
    /// <summary>
    /// The ME's own access to the UICC (what a real modem's SIM driver does under +CRSM, +CIMI, +CPIN, +CCHO):
    /// SELECT / READ BINARY / UPDATE BINARY / VERIFY PIN / MANAGE CHANNEL as TS 102 221 §11.1 APDUs through
    /// <see cref="ISimCard"/>, with the T=0 procedure bytes '61xx' (GET RESPONSE) and '6Cxx' (re-issue) resolved.
    /// </summary>
    public sealed class MeSimAccess
    {
        /// <summary>USIM AID prefix RID 'A000000087' + '1002' (TS 101 220 Annex E, TS 31.102 Annex A).</summary>
        public static readonly byte[] UsimAid = { 0xA0, 0x00, 0x00, 0x00, 0x87, 0x10, 0x02 };

        private readonly Func<ISimCard> _card;

        public MeSimAccess(Func<ISimCard> card)
        {
            _card = card;
        }

        public ISimCard Card => _card();

        /// <summary>Transmits and resolves '61xx' / '6Cxx' (TS 102 221 §7.3.1.1.4/.5) on the APDU's own channel.</summary>
        public byte[] Exchange(byte[] apdu, bool resolveProcedureBytes = true)
        {
            byte[] r = Card.Transmit(apdu);
            for (int round = 0; resolveProcedureBytes && round < 4 && r.Length == 2; round++)
            {
                if (r[0] == 0x61)
                {
                    // GET RESPONSE with the channel bits of the original CLA (TS 102 221 §11.1.7)
                    r = Card.Transmit(new byte[] { (byte)((apdu[0] & 0x40) != 0 ? apdu[0] & 0x4F : apdu[0] & 0x03), 0xC0, 0x00, 0x00, r[1] });
                }
                else if (r[0] == 0x6C && apdu.Length >= 5)
                {
                    byte[] again = (byte[])apdu.Clone();
                    again[again.Length - 1] = r[1];
                    r = Card.Transmit(again);
                }
                else
                {
                    break;
                }
            }

            return r;
        }

        public static int Sw(byte[] r) => r.Length < 2 ? 0 : (r[r.Length - 2] << 8) | r[r.Length - 1];

        public static byte[] Data(byte[] r) => r.Length <= 2 ? Array.Empty<byte>() : r.AsSpan(0, r.Length - 2).ToArray();

        /// <summary>SELECT the USIM ADF by AID on the basic channel (TS 102 221 §11.1.1, P1 '04', P2 '04' = FCP).</summary>
        public int SelectUsim()
        {
            byte[] apdu = new byte[5 + UsimAid.Length + 1];
            apdu[0] = 0x00;
            apdu[1] = 0xA4;
            apdu[2] = 0x04;
            apdu[3] = 0x04;
            apdu[4] = (byte)UsimAid.Length;
            UsimAid.CopyTo(apdu, 5);
            apdu[^1] = 0x00;
            return Sw(Exchange(apdu));
        }

        /// <summary>Selects EF <paramref name="fid"/>: under the MF for '2Fxx'/'3F00', under ADF USIM otherwise (TS 31.102 §4.2).</summary>
        public int SelectEf(int fid, int[]? path = null)
        {
            if (path != null && path.Length > 0)
            {
                foreach (int p in path)
                {
                    if (p == 0x7FFF)
                    {
                        int s0 = SelectUsim();
                        if (s0 != 0x9000)
                        {
                            return s0;
                        }
                    }
                    else
                    {
                        int s1 = SelectFid(p);
                        if (s1 != 0x9000)
                        {
                            return s1;
                        }
                    }
                }

                return SelectFid(fid);
            }

            if ((fid >> 8) == 0x2F || fid == 0x3F00)
            {
                int s = SelectFid(0x3F00);
                if (s != 0x9000 || fid == 0x3F00)
                {
                    return s;
                }
            }
            else
            {
                int s = SelectUsim();
                if (s != 0x9000)
                {
                    return s;
                }
            }

            return SelectFid(fid);
        }

        private int SelectFid(int fid)
        {
            // SELECT by file identifier, P2 '04' return FCP (TS 102 221 §11.1.1.2)
            byte[] apdu = { 0x00, 0xA4, 0x00, 0x04, 0x02, (byte)(fid >> 8), (byte)fid, 0x00 };
            return Sw(Exchange(apdu));
        }

        /// <summary>READ BINARY (TS 102 221 §11.1.3) of the selected EF.</summary>
        public byte[] ReadBinary(int offset, int length) =>
            Exchange(new byte[] { 0x00, 0xB0, (byte)(offset >> 8), (byte)offset, (byte)length });

        /// <summary>UPDATE BINARY (TS 102 221 §11.1.4).</summary>
        public byte[] UpdateBinary(int offset, byte[] data)
        {
            byte[] apdu = new byte[5 + data.Length];
            apdu[1] = 0xD6;
            apdu[2] = (byte)(offset >> 8);
            apdu[3] = (byte)offset;
            apdu[4] = (byte)data.Length;
            data.CopyTo(apdu, 5);
            return Exchange(apdu);
        }

        /// <summary>READ RECORD absolute (TS 102 221 §11.1.5, P2 '04').</summary>
        public byte[] ReadRecord(int record, int length) => Exchange(new byte[] { 0x00, 0xB2, (byte)record, 0x04, (byte)length });

        /// <summary>Reads EF_IMSI (TS 31.102 §4.2.2) → digits, or null with the status word when refused.</summary>
        public string? ReadImsi(out int sw)
        {
            sw = SelectEf(0x6F07);
            if (sw != 0x9000)
            {
                return null;
            }

            byte[] r = ReadBinary(0, 9);
            sw = Sw(r);
            if (sw != 0x9000)
            {
                return null;
            }

            byte[] d = Data(r);
            return E2m.Modem.Usim.EfImsi.Decode(d, 0, d.Length);
        }

        /// <summary>Reads EF_ICCID (TS 102 221 §13.2, BCD swapped) → the ICCID text, or null.</summary>
        public string? ReadIccid()
        {
            if (SelectEf(0x2FE2) != 0x9000)
            {
                return null;
            }

            byte[] r = ReadBinary(0, 10);
            if (Sw(r) != 0x9000)
            {
                return null;
            }

            var sb = new System.Text.StringBuilder();
            foreach (byte b in Data(r))
            {
                sb.Append("0123456789ABCDEF"[b & 0x0F]);
                sb.Append("0123456789ABCDEF"[b >> 4]);
            }

            return sb.ToString();
        }

        /// <summary>VERIFY PIN1 (TS 102 221 §11.1.9, key reference '01', PIN padded with 'FF' to 8 octets).</summary>
        public int VerifyPin(string pin)
        {
            byte[] apdu = new byte[13];
            apdu[1] = 0x20;
            apdu[3] = 0x01;
            apdu[4] = 0x08;
            for (int i = 0; i < 8; i++)
            {
                apdu[5 + i] = i < pin.Length ? (byte)pin[i] : (byte)0xFF;
            }

            return Sw(Exchange(apdu));
        }

        /// <summary>MANAGE CHANNEL open (TS 102 221 §11.1.17) → channel number, or -1 with <paramref name="sw"/>.</summary>
        public int OpenChannel(out int sw)
        {
            byte[] r = Exchange(new byte[] { 0x00, 0x70, 0x00, 0x00, 0x01 });
            sw = Sw(r);
            return sw == 0x9000 && r.Length == 3 ? r[0] : -1;
        }

        public int CloseChannel(int channel) => Sw(Exchange(new byte[] { 0x00, 0x70, 0x80, (byte)channel, 0x00 }));

        /// <summary>CLA for a logical channel (TS 102 221 §10.1.1): 0..3 in '0X', 4..19 in '4X' as n − 4.</summary>
        public static byte Cla(byte cla, int channel)
        {
            if (channel <= 3)
            {
                return (byte)((cla & 0xBC) | channel);
            }

            return (byte)(0x40 | (cla & 0x30) | (channel - 4));
        }
    }
}
